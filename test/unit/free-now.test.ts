import { getHeapStatistics } from 'node:v8';
import t from 'tap';
import { freeNow } from '../../func/detector/core/free-now.js';

t.test('frees a buffer at once: detached, and no longer counted as external memory', async (t) => {
  const size = 32 * 2 ** 20;
  const view = new Float32Array(size / 4).fill(1);
  const before = getHeapStatistics().external_memory;
  freeNow(view.buffer);
  t.equal(view.length, 0, 'every view of it reads as empty');
  t.equal(view.buffer.byteLength, 0, 'the buffer is detached');
  t.ok(before - getHeapStatistics().external_memory >= size, 'V8 counts its bytes as gone before any collection');
});
