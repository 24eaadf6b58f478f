import { Worker } from 'node:worker_threads';
import type { WorkerInit, WorkerReply, WorkerRequest } from './inference-worker.js';
import { ModelLoadError } from './model-errors.js';
import type { LoadOptions, Model, ModelInfo, ModelOutput } from './model.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Output slots kept per worker: a run's output is read and handed back before the next run ends. */
const KEPT_OUTPUTS = 2;

/**
 * A Model whose session lives in a worker thread (see inference-worker.ts), with the same interface as the
 * in-process one. The input tensor is transferred to the worker, so the caller must not reuse it until the
 * worker hands it back (ModelOutput.input).
 *
 * The output comes back in a slot of memory shared with the worker, which the caller hands back once read
 * (ModelOutput.recycle), rather than transferred. Each transferred buffer arrives as a new ArrayBuffer, which V8
 * counts as external memory until a full collection; with every run's 2.8 MB output transferred, the main isolate
 * ran about twice the mark-compacts at c=4 (docs/performance.md). An output that fits no slot (a batch's, or one
 * with every slot out) is transferred.
 */
export async function loadModelInWorker(file: string, options: LoadOptions): Promise<Model> {
  const { onFallback, onFailure, ...cloneable } = options;
  const worker = new Worker(new URL('./inference-worker.js', import.meta.url), {
    workerData: { file, options: cloneable } satisfies WorkerInit,
  });
  type Result = Extract<WorkerReply, { kind: 'result' }>;
  const pending = new Map<number, { resolve: (v: Result | undefined) => void; reject: (e: Error) => void }>();
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
          pending.get(msg.id)?.resolve(msg);
          pending.delete(msg.id);
          break;
        case 'error':
          pending.get(msg.id)?.reject(new Error(msg.message));
          pending.delete(msg.id);
          break;
        case 'released':
          pending.get(msg.id)?.resolve(undefined);
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

  const call = (
    msg: DistributiveOmit<WorkerRequest, 'id'>,
    transfer: ArrayBuffer[] = [],
  ): Promise<Result | undefined> =>
    new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id }, transfer);
    });

  const outputs: SharedArrayBuffer[] = [];
  let madeOutputs = 0;
  async function run(input: Float32Array, batch: number): Promise<ModelOutput> {
    const output = outputs.pop();
    let reply: Result | undefined;
    try {
      reply = await call({ input, batch, output }, [input.buffer as ArrayBuffer]);
    } catch (err) {
      if (output) outputs.push(output);
      throw err;
    }
    if (!reply) throw new Error('the model was released');
    const { dims, runMs, input: given } = reply;
    if (reply.data) {
      // No slot, or too small for this output: it came transferred. Make a slot for the next run, up to the few kept.
      if (output) outputs.push(output);
      else if (madeOutputs < KEPT_OUTPUTS) {
        madeOutputs++;
        outputs.push(new SharedArrayBuffer(reply.data.byteLength));
      }
      return { data: reply.data, dims, runMs, input: given };
    }
    let recycled = false;
    const slot = output!;
    return {
      data: new Float32Array(slot, 0, reply.length),
      dims,
      runMs,
      input: given,
      recycle: () => {
        if (recycled) return;
        recycled = true;
        outputs.push(slot);
      },
    };
  }

  return {
    info,
    threads,
    run,
    async release() {
      released = true;
      if (!failed) await call({ release: true }).catch(() => undefined);
      await worker.terminate();
    },
    failure: () => (released ? undefined : failed),
  };
}
