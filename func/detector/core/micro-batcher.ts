/**
 * Gathers concurrent submissions into batches: a batch runs as soon as it holds `maxBatch` items, or
 * `maxDelayMs` after its first item arrived, whichever comes first. Knows nothing of models: `runBatch` gets the
 * items in arrival order and must return one result per item, in the same order.
 */
export interface BatchOptions {
  maxBatch: number;
  maxDelayMs: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

export class MicroBatcher<I, O> {
  private queue: Waiting<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly runBatch: (items: I[]) => Promise<O[]>,
    private readonly options: BatchOptions,
    /** Called with each batch's size as it starts, for metrics. */
    private readonly onBatch?: (size: number) => void,
  ) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) throw new RangeError('maxBatch must be >= 1');
    if (!(options.maxDelayMs >= 0)) throw new RangeError('maxDelayMs must be >= 0');
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.options.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.maxDelayMs);
    });
  }

  /** Items waiting for their batch to start. */
  pending(): number {
    return this.queue.length;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue.splice(0, this.options.maxBatch);
    if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.options.maxDelayMs);
    if (batch.length > 0) void this.execute(batch);
  }

  private async execute(batch: Waiting<I, O>[]): Promise<void> {
    this.onBatch?.(batch.length);
    try {
      const results = await this.runBatch(batch.map((w) => w.item));
      if (results.length !== batch.length) {
        throw new Error(`a batch of ${batch.length} returned ${results.length} results`);
      }
      batch.forEach((w, i) => w.resolve(results[i]!));
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      // One bad item must not fail its batch-mates: run each alone, so only the culprit gets the error.
      await Promise.all(batch.map((w) => this.execute([w])));
    }
  }
}
