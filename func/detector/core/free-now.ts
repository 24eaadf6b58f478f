import { MessageChannel } from 'node:worker_threads';

/**
 * A port whose other end is closed. A buffer transferred to it is detached (HTML's postMessage serializes the
 * message, detaching its transfer list, before it finds the port closed) and the message holding it is dropped,
 * so its memory is freed then, not at the collection that would find it dead.
 */
const drop = new MessageChannel();
drop.port2.close();

/**
 * Frees an ArrayBuffer's memory now; every view of it reads as empty from then on. For a large buffer that dies
 * in a heap that seldom collects: the inference worker's, which allocates almost nothing but onnxruntime-node's
 * outputs, each a new ArrayBuffer (docs/performance.md).
 */
export function freeNow(buffer: ArrayBuffer): void {
  drop.port1.postMessage(null, [buffer]);
}
