import t from 'tap';
import { MicroBatcher } from '../../func/detector/core/micro-batcher.js';

/** A runBatch that records each batch and answers item → item * 10, failing on negative items. */
function recorder(delayMs = 0): { batches: number[][]; run: (items: number[]) => Promise<number[]> } {
  const batches: number[][] = [];
  return {
    batches,
    async run(items) {
      batches.push([...items]);
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      const bad = items.find((i) => i < 0);
      if (bad !== undefined) throw new Error(`item ${bad} is bad`);
      return items.map((i) => i * 10);
    },
  };
}

t.test('concurrent items share a batch, and each gets its own result in order', async (t) => {
  const r = recorder();
  const sizes: number[] = [];
  const b = new MicroBatcher(r.run, { maxBatch: 4, maxDelayMs: 20 }, (n) => sizes.push(n));
  const results = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => b.submit(i)));
  t.same(results, [10, 20, 30, 40, 50, 60], 'results follow the submissions');
  t.same(
    r.batches,
    [
      [1, 2, 3, 4],
      [5, 6],
    ],
    'a full batch runs at once; the rest wait for the delay',
  );
  t.same(sizes, [4, 2]);
  t.equal(b.pending(), 0);
});

t.test('one failed item does not fail its batch-mates', async (t) => {
  const r = recorder();
  const b = new MicroBatcher(r.run, { maxBatch: 4, maxDelayMs: 20 });
  const settled = await Promise.allSettled([1, -2, 3, 4].map((i) => b.submit(i)));
  t.same(
    settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)),
    [10, 'item -2 is bad', 30, 40],
  );
  t.same(r.batches, [[1, -2, 3, 4], [1], [-2], [3], [4]], 'the failed batch is retried one item at a time');
});

t.test('a batch that returns the wrong number of results fails, item by item', async (t) => {
  const b = new MicroBatcher(async (items: number[]) => (items.length > 1 ? [1] : items), {
    maxBatch: 2,
    maxDelayMs: 10,
  });
  t.same(await Promise.all([b.submit(7), b.submit(8)]), [7, 8], 'singles succeed after the batch is refused');
});

t.test('a lone item runs after the delay, not before, and never waits for company forever', async (t) => {
  const r = recorder();
  const b = new MicroBatcher(r.run, { maxBatch: 8, maxDelayMs: 60 });
  const t0 = performance.now();
  const got = await b.submit(1);
  const waited = performance.now() - t0;
  t.equal(got, 10);
  t.ok(waited >= 59, `waited for batch-mates (${waited.toFixed(1)} ms >= 60 ms)`);
  // Generous upper bound: only a missing timer (waiting for a full batch) would take this long.
  t.ok(waited < 2000, `ran once the delay was up (${waited.toFixed(1)} ms)`);
  t.same(r.batches, [[1]]);
});

t.test('a full batch does not wait for the delay', async (t) => {
  const r = recorder();
  const b = new MicroBatcher(r.run, { maxBatch: 3, maxDelayMs: 60_000 });
  const results = await Promise.all([1, 2, 3].map((i) => b.submit(i)));
  t.same(results, [10, 20, 30], 'resolved without waiting a minute');
});

t.test('items that arrive while a batch runs form the next one', async (t) => {
  const r = recorder(30);
  const b = new MicroBatcher(r.run, { maxBatch: 2, maxDelayMs: 5 });
  const first = Promise.all([b.submit(1), b.submit(2)]);
  await new Promise((res) => setTimeout(res, 10));
  const second = Promise.all([b.submit(3), b.submit(4), b.submit(5)]);
  t.same(await first, [10, 20]);
  t.same(await second, [30, 40, 50]);
  t.same(r.batches, [[1, 2], [3, 4], [5]]);
});

t.test('MAX_BATCH 1 runs each item alone', async (t) => {
  const r = recorder();
  const b = new MicroBatcher(r.run, { maxBatch: 1, maxDelayMs: 1000 });
  t.same(await Promise.all([1, 2].map((i) => b.submit(i))), [10, 20]);
  t.same(r.batches, [[1], [2]]);
});

t.test('invalid options are refused', async (t) => {
  const run = async (items: number[]): Promise<number[]> => items;
  t.throws(() => new MicroBatcher(run, { maxBatch: 0, maxDelayMs: 1 }), RangeError);
  t.throws(() => new MicroBatcher(run, { maxBatch: 2, maxDelayMs: -1 }), RangeError);
});
