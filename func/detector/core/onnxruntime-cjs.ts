import { createRequire } from 'node:module';
import type * as Onnxruntime from 'onnxruntime-node';

/**
 * onnxruntime-node, required rather than imported. It is a CommonJS package: imported from an ES module, Node first
 * scans its files for their exports (cjs-module-lexer), on the inference worker's path to ready. Required, a cold
 * server took 50 ms less CPU to ready and 30 ms less time on the Zen 5 machine of runs AX–BA (docs/performance.md).
 */
const onnxruntime = createRequire(import.meta.url)('onnxruntime-node') as typeof Onnxruntime;

export const InferenceSession = onnxruntime.InferenceSession;
export type InferenceSession = Onnxruntime.InferenceSession;
export const Tensor = onnxruntime.Tensor;
export const env = onnxruntime.env;
