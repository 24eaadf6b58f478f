import t from 'tap';
import {
  fillTensor,
  letterboxGeometry,
  letterboxInto,
  pyRound,
  toOriginal,
  PAD_VALUE,
} from '../../func/detector/core/letterbox.js';

t.test('pyRound rounds halves to even, as Python 3 does', async (t) => {
  t.same([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(pyRound), [0, 2, 2, -0, -2, 2, 3]);
});

t.test('bus.jpg geometry matches Ultralytics LetterBox(640, auto=False)', async (t) => {
  const lb = letterboxGeometry(810, 1080, 640, 640);
  t.equal(lb.ratio, 640 / 1080);
  t.equal(lb.resizedWidth, 480);
  t.equal(lb.resizedHeight, 640);
  t.equal(lb.left, 80);
  t.equal(lb.top, 0);
});

t.test('odd padding puts the extra pixel after the image (top = round(dh - 0.1))', async (t) => {
  // 1280x721 → ratio 0.5, resized 640x360 (360.5 rounds to even 360), dh = 140 → top 140
  const lb = letterboxGeometry(1280, 721, 640, 640);
  t.equal(lb.resizedHeight, 360);
  t.equal(lb.top, 140);
  // 100x41 into 64: ratio .64, 26.24 → 26, dh = 19 → top = round(18.9/... ) computed below
  const small = letterboxGeometry(100, 41, 64, 64);
  t.equal(small.resizedWidth, 64);
  t.equal(small.resizedHeight, 26);
  t.equal(small.top, 19, 'dh = 19, round(18.9) = 19');
  const odd = letterboxGeometry(100, 43, 64, 64);
  t.equal(odd.resizedHeight, 28);
  t.equal(odd.top, 18, 'dh = 18 exactly');
  const half = letterboxGeometry(64, 61, 64, 64);
  t.equal(half.resizedHeight, 61);
  t.equal(half.top, 1, 'dh = 1.5 → round(1.4) = 1, the bottom gets 2');
});

t.test('toOriginal inverts the letterbox', async (t) => {
  for (const [w, h] of [
    [810, 1080],
    [1280, 720],
    [100, 41],
    [3000, 200],
  ] as const) {
    const lb = letterboxGeometry(w, h, 640, 640);
    const [x0, y0] = toOriginal(lb, lb.left, lb.top);
    const [x1, y1] = toOriginal(lb, lb.left + lb.resizedWidth, lb.top + lb.resizedHeight);
    t.ok(Math.abs(x0) < 1e-9 && Math.abs(y0) < 1e-9, `${w}x${h}: the image's corner maps to 0,0`);
    t.ok(Math.abs(x1 - w) < 1 / lb.ratio && Math.abs(y1 - h) < 1 / lb.ratio, `${w}x${h}: the far corner maps to w,h`);
  }
});

t.test('letterboxInto writes CHW RGB/255 and pads with 114', async (t) => {
  // A 4x2 image, red on the left half and blue on the right, into an 8x8 input: ratio 2, resized 8x4, top 2.
  const pixels = Buffer.alloc(4 * 2 * 3);
  for (let y = 0; y < 2; y++) {
    for (let x = 0; x < 4; x++) {
      const p = (y * 4 + x) * 3;
      if (x < 2) pixels[p] = 255;
      else pixels[p + 2] = 255;
    }
  }
  const lb = letterboxGeometry(4, 2, 8, 8);
  t.same([lb.resizedWidth, lb.resizedHeight, lb.left, lb.top], [8, 4, 0, 2]);
  const tensor = new Float32Array(3 * 64);
  await letterboxInto({ pixels, width: 4, height: 2, format: 'png' }, lb, tensor);
  const at = (c: number, y: number, x: number): number => tensor[c * 64 + y * 8 + x]!;
  t.equal(at(0, 0, 0), Math.fround(PAD_VALUE / 255), 'top padding is 114');
  t.equal(at(1, 7, 7), Math.fround(PAD_VALUE / 255), 'bottom padding is 114');
  t.equal(at(0, 3, 0), 1, 'left is red');
  t.equal(at(2, 3, 0), 0, 'left has no blue');
  t.equal(at(2, 3, 7), 1, 'right is blue');
  t.equal(at(0, 3, 7), 0, 'right has no red');
});

t.test(
  'fillTensor writes every value, so one tensor can be filled image after image (as the bench does)',
  async (t) => {
    // Wide (padded above and below), tall (left and right), exact, and odd sizes that round their padding.
    for (const [w, h] of [
      [12, 5],
      [5, 12],
      [8, 8],
      [7, 3],
      [3, 11],
    ] as const) {
      const lb = letterboxGeometry(w, h, 8, 8);
      const resized = Buffer.from(
        Array.from({ length: lb.resizedWidth * lb.resizedHeight * 3 }, (_, i) => (i * 37) % 256),
      );
      const fresh = new Float32Array(3 * 64);
      fillTensor(resized, lb, fresh);
      const used = new Float32Array(3 * 64).fill(Number.NaN);
      fillTensor(resized, lb, used);
      t.same([...used], [...fresh], `${w}x${h}: the same tensor whatever it held before`);
    }
  },
);
