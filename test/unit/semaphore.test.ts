import t from 'tap';
import { Semaphore } from '../../func/detector/core/semaphore.js';

t.test('runs at most `limit` tasks at once, in arrival order', async (t) => {
  const s = new Semaphore(2);
  let active = 0;
  let peak = 0;
  const started: number[] = [];
  const task = (i: number) => async (): Promise<number> => {
    started.push(i);
    peak = Math.max(peak, ++active);
    await new Promise((r) => setTimeout(r, 5));
    active--;
    return i;
  };
  const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => s.run(task(i))));
  t.same(results, [0, 1, 2, 3, 4, 5]);
  t.equal(peak, 2, 'never more than two at once');
  t.same(started, [0, 1, 2, 3, 4, 5], 'first come, first served');
});

t.test('a failing task frees its slot', async (t) => {
  const s = new Semaphore(1);
  await t.rejects(
    s.run(async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  t.equal(await s.run(async () => 'next'), 'next');
});

t.test('a limit below 1 is refused', async (t) => {
  t.throws(() => new Semaphore(0), RangeError);
});
