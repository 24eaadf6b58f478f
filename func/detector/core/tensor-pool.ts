/**
 * Input tensors of one size, handed out and taken back. A fresh 4.9 MB Float32Array per request is a fresh
 * mapping under the image's fixed mmap threshold (docs/performance.md, Memory): its ~1,200 pages fault in as
 * the tensor is filled and go back to the kernel when it is collected, every request. The model hands each
 * input back after its run (ModelOutput.input), so a few buffers serve every request; at most `keep` wait here,
 * so a burst does not pin its peak.
 */
export class TensorPool {
  private readonly free: Float32Array[] = [];

  constructor(
    readonly length: number,
    private readonly keep: number,
  ) {}

  take(): Float32Array {
    return this.free.pop() ?? new Float32Array(this.length);
  }

  /** A buffer another thread detached, or one of another size, is not taken back. */
  give(tensor: Float32Array | undefined): void {
    if (tensor?.length === this.length && this.free.length < this.keep) this.free.push(tensor);
  }

  /** Buffers waiting to be reused. */
  get size(): number {
    return this.free.length;
  }
}
