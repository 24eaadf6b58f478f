import { Worker } from 'node:worker_threads';
import type { WorkerInit, WorkerReply } from './inference-worker.js';
import { ModelLoadError } from './model-errors.js';
import type { LoadOptions, Model, ModelInfo, ModelOutput } from './model.js';

/**
 * A Model whose session lives in a worker thread (see inference-worker.ts), with the same interface as the
 * in-process one. The input tensor is transferred to the worker, so the caller must not reuse it until the
 * worker hands it back (ModelOutput.input).
 */
export async function loadModelInWorker(file: string, options: LoadOptions): Promise<Model> {
  const { onFallback, onFailure, ...cloneable } = options;
  const worker = new Worker(new URL('./inference-worker.js', import.meta.url), {
    workerData: { file, options: cloneable } satisfies WorkerInit,
  });
  const pending = new Map<number, { resolve: (v: ModelOutput) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let failed: Error | undefined;
  let loaded = false;
  let released = false;
  /** After the load, a dead worker is a failure the service must report: nothing can run any more. */
  const fail = (err: Error): void => {
    if (failed) return;
    failed = err;
    if (loaded && !released) onFailure?.(err);
  };

  let threads: number[] = [];
  const info = await new Promise<ModelInfo>((resolve, reject) => {
    worker.on('message', (msg: WorkerReply) => {
      switch (msg.kind) {
        case 'loaded':
          loaded = true;
          threads = msg.threads;
          resolve(msg.info as ModelInfo);
          break;
        case 'fallback':
          onFallback?.(msg.from as 'cpu' | 'cuda', msg.to as 'cpu' | 'cuda', msg.reason);
          break;
        case 'load-failed':
          reject(msg.name === 'ModelLoadError' ? new ModelLoadError(msg.message) : new Error(msg.message));
          break;
        case 'result':
          pending.get(msg.id)?.resolve({ data: msg.data, dims: msg.dims, runMs: msg.runMs, input: msg.input });
          pending.delete(msg.id);
          break;
        case 'error':
          pending.get(msg.id)?.reject(new Error(msg.message));
          pending.delete(msg.id);
          break;
        case 'released':
          pending.get(msg.id)?.resolve({ data: new Float32Array(), dims: [], runMs: 0 });
          pending.delete(msg.id);
          break;
      }
    });
    // A worker that dies (out of memory, a native crash) fails everything waiting on it, and every later run.
    worker.on('error', (err) => {
      fail(err);
      reject(err);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
    worker.on('exit', (code) => {
      fail(new Error(`the inference worker exited (code ${code})`));
      const err = failed!;
      reject(err);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
  }).catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });

  const call = (msg: object, transfer: ArrayBuffer[] = []): Promise<ModelOutput> =>
    new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id }, transfer);
    });

  return {
    info,
    threads,
    run: (input, batch) => call({ input, batch }, [input.buffer as ArrayBuffer]),
    async release() {
      released = true;
      if (!failed) await call({ release: true }).catch(() => undefined);
      await worker.terminate();
    },
    failure: () => (released ? undefined : failed),
  };
}
