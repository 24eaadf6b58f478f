import t from 'tap';
import { fromFloat16Bits, toFloat16Bits } from '../../func/detector/core/float16.js';

t.test('known half-precision patterns', async (t) => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // the largest half
    [70000, 0x7c00], // overflow: infinity
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], // the smallest subnormal
    [2 ** -14, 0x0400], // the smallest normal
    [1 / 3, 0x3555],
    [114 / 255, 0x3727], // the letterbox padding value
    [1 + 2 ** -11, 0x3c00], // a tie: rounds to even
    [1 + 3 * 2 ** -11, 0x3c02], // a tie: rounds to even, up
  ];
  const bits = toFloat16Bits(Float32Array.from(cases.map(([v]) => v)));
  cases.forEach(([v, want], i) => t.equal(bits[i], want, `${v} → 0x${want.toString(16)}`));
  t.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(Float32Array.of(NaN)))[0]), 'NaN stays NaN');
});

t.test('every half converts to a float and back to itself', async (t) => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = toFloat16Bits(fromFloat16Bits(all));
  let wrong = 0;
  for (let i = 0; i < all.length; i++) {
    const isNaN = (all[i]! & 0x7c00) === 0x7c00 && (all[i]! & 0x3ff) !== 0;
    if (!isNaN && back[i] !== all[i]) wrong++;
  }
  t.equal(wrong, 0);
});

t.test('pixel values in [0, 1] keep 11 significant bits', async (t) => {
  const pixels = Float32Array.from({ length: 256 }, (_, i) => i / 255);
  const back = fromFloat16Bits(toFloat16Bits(pixels));
  const worst = Math.max(...pixels.map((p, i) => Math.abs(p - back[i]!)));
  t.ok(worst <= 2 ** -12, `largest error ${worst}`);
});
