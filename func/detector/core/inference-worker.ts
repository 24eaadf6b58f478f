/**
 * The inference thread. onnxruntime-node's session.run blocks its thread for the whole inference; run here, it
 * leaves the main thread free to answer probes, decode the next image and encode the last one meanwhile. The
 * model is loaded with the same loader as in-process. Inputs cross as transferred buffers and go back the same
 * way; outputs are copied into slots shared with the main thread where one is given (worker-model.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { freeNow } from './free-now.js';
import { loadModel, type LoadOptions } from './model.js';
import { currentThreadId, threadsStartedDuring } from './os-threads.js';

export interface WorkerInit {
  file: string;
  options: Omit<LoadOptions, 'onFallback'>;
}

export type WorkerRequest =
  | {
      id: number;
      input: Float32Array;
      batch: number;
      /** Where to copy the output if it fits; otherwise it is transferred. */
      output: SharedArrayBuffer | undefined;
    }
  | { id: number; release: true };

export type WorkerReply =
  | { kind: 'loaded'; info: unknown; threads: number[] }
  | { kind: 'fallback'; from: string; to: string; reason: string }
  | { kind: 'load-failed'; message: string; name: string }
  | {
      kind: 'result';
      id: number;
      /** The output when it was not copied into the request's slot. */
      data: Float32Array | undefined;
      length: number;
      dims: number[];
      runMs: number;
      input: Float32Array;
    }
  | { kind: 'error'; id: number; message: string }
  | { kind: 'released'; id: number };

const port = parentPort!;
const init = workerData as WorkerInit;

try {
  // onnxruntime starts its intra-op threads as the session is created: with this thread, they are the ones that
  // run inference, and the service gives every other thread a lower priority (service/thread-priority.ts). No
  // other thread starts meanwhile: libuv's pool, which reads the model file, read this module before (Node's ESM
  // loader reads through it), and libvips starts its workers at the first image; a session in a second worker
  // counts here too, as it should.
  const { result: model, started } = await threadsStartedDuring(() =>
    loadModel(init.file, {
      ...init.options,
      onFallback: (from, to, reason) => port.postMessage({ kind: 'fallback', from, to, reason } satisfies WorkerReply),
    }),
  );
  const self = currentThreadId();
  const threads = self === undefined ? [] : [self, ...started];
  port.postMessage({ kind: 'loaded', info: model.info, threads } satisfies WorkerReply);
  port.on('message', async (msg: WorkerRequest) => {
    if ('release' in msg) {
      await model.release();
      port.postMessage({ kind: 'released', id: msg.id } satisfies WorkerReply);
      return;
    }
    try {
      const out = await model.run(msg.input, msg.batch);
      // The input goes back too, for the main thread to fill again (TensorPool).
      const transfer = [msg.input.buffer as ArrayBuffer];
      const { length } = out.data;
      const whole = out.data.byteOffset === 0 && out.data.byteLength === out.data.buffer.byteLength;
      let data: Float32Array | undefined;
      if (msg.output && msg.output.byteLength >= out.data.byteLength) {
        new Float32Array(msg.output, 0, length).set(out.data);
        // onnxruntime-node returns each output in a new ArrayBuffer, even into a preallocated tensor. Left to this
        // heap's collector, which scavenges at 32 MB of them, they would pile up (docs/performance.md).
        if (whole) freeNow(out.data.buffer as ArrayBuffer);
      } else {
        // Transfer the output when it owns its buffer; otherwise copy the view out first.
        data = whole ? out.data : out.data.slice();
        transfer.push(data.buffer as ArrayBuffer);
      }
      const reply: WorkerReply = {
        kind: 'result',
        id: msg.id,
        data,
        length,
        dims: out.dims,
        runMs: out.runMs,
        input: msg.input,
      };
      port.postMessage(reply, transfer);
    } catch (err) {
      port.postMessage({ kind: 'error', id: msg.id, message: (err as Error).message } satisfies WorkerReply);
    }
  });
} catch (err) {
  port.postMessage({
    kind: 'load-failed',
    message: (err as Error).message,
    name: (err as Error).name,
  } satisfies WorkerReply);
}
