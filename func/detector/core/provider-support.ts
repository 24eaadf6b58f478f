/** The onnxruntime execution providers this service can use. */
export type Provider = 'cpu' | 'cuda';

/**
 * Operators that an execution provider has no kernel for, so onnxruntime runs those nodes on the CPU, with copies
 * to and from the device around each: on a GPU such a model runs slower than on the CPU alone. Only what is
 * documented is listed: int8 dynamic quantization's ConvInteger has no CUDA kernel (microsoft/onnxruntime#5127,
 * ultralytics/ultralytics#5147).
 */
const NO_KERNEL: Readonly<Record<Provider, ReadonlySet<string>>> = {
  cpu: new Set(),
  cuda: new Set(['ConvInteger']),
};

/** The model's operator types that would not run on the provider, sorted. */
export function opsWithoutKernel(provider: Provider, opTypes: readonly string[]): string[] {
  return [...new Set(opTypes.filter((op) => NO_KERNEL[provider].has(op)))].sort();
}
