/** Why a model cannot be served. Its own module, so the main thread can name it without loading onnxruntime. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}
