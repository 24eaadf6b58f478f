import t from 'tap';
import { TensorPool } from '../../func/detector/core/tensor-pool.js';

t.test('hands back the buffers it was given, at most `keep` of them', async (t) => {
  const pool = new TensorPool(12, 2);
  const [a, b, c] = [pool.take(), pool.take(), pool.take()];
  t.equal(a.length, 12, 'a new buffer of the pool length when none waits');
  t.not(a, b);
  pool.give(a);
  pool.give(b);
  pool.give(c);
  t.equal(pool.size, 2, 'the third is left to the collector');
  t.equal(pool.take(), b, 'the last given comes back first');
  t.equal(pool.take(), a);
  t.not(pool.take(), c, 'then new ones again');
});

t.test('does not take back a detached buffer, one of another size, or nothing', async (t) => {
  const pool = new TensorPool(12, 4);
  const sent = pool.take();
  structuredClone(sent, { transfer: [sent.buffer] });
  t.equal(sent.length, 0, 'transferred away: detached, length 0');
  pool.give(sent);
  pool.give(new Float32Array(6));
  pool.give(undefined);
  t.equal(pool.size, 0);
});
