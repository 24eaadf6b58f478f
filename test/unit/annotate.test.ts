import t from 'tap';
import { annotationScale, classColour, drawDetections } from '../../func/detector/core/annotate.js';
import type { DecodedImage } from '../../func/detector/core/decode.js';
import type { Detection } from '../../func/detector/core/postprocess.js';

/** Boxes drawn into the pixels: a frame `line` pixels thick in the class's colour, clipped to the image. */

const GREY = 90;
const blank = (width: number, height: number): DecodedImage => ({
  pixels: Buffer.alloc(width * height * 3, GREY),
  width,
  height,
  format: 'jpeg',
});
const detection = (x1: number, y1: number, x2: number, y2: number, classId: number): Detection => ({
  box: { x1, y1, x2, y2 },
  classId,
  label: 'person',
  confidence: 0.5,
});

t.test('a box past the image edges: its frame clipped, nothing else touched, no run wraps a row', async (t) => {
  const img = blank(300, 200);
  const { line } = annotationScale(300, 200);
  // Past the left, right and bottom edges; the caption goes above it, in rows 0 to 59.
  drawDetections(img, [detection(-40.4, 60, 330.2, 260, 3)]);
  const colour = [...classColour(3)];
  // The box's edges, each `line` wide, from x1 -40.4 to x2 330.2: only the top edge falls inside the image.
  const inFrame = (x: number, y: number): boolean => y >= 60 && (y < 60 + line || x < line - 40 || x >= 331 - line);
  let wrong = 0;
  for (let y = 60; y < 200; y++) {
    for (let x = 0; x < 300; x++) {
      const p = (y * 300 + x) * 3;
      const got = [img.pixels[p], img.pixels[p + 1], img.pixels[p + 2]];
      const want = inFrame(x, y) ? colour : [GREY, GREY, GREY];
      if (got.join() !== want.join()) wrong++;
    }
  }
  t.equal(wrong, 0, `rows 60 to 199: the top edge ${line} rows in the colour, the rest as it was`);
  const top = (60 * 300 + 150) * 3;
  t.same([...img.pixels.subarray(top, top + 3)], colour, 'the top edge is drawn');
});

t.test('a box inside the image: all four edges, each `line` thick', async (t) => {
  const img = blank(400, 400);
  const { line } = annotationScale(400, 400);
  drawDetections(img, [detection(100, 150, 300, 350, 0)]);
  const colour = classColour(0).join();
  const at = (x: number, y: number): string =>
    [...img.pixels.subarray((y * 400 + x) * 3, (y * 400 + x) * 3 + 3)].join();
  for (const [x, y, name] of [
    [200, 150, 'top'],
    [200, 350 - line, 'bottom'],
    [100, 250, 'left'],
    [300 - line, 250, 'right'],
  ] as const) {
    t.equal(at(x, y), colour, `${name} edge, first pixel row or column`);
  }
  for (const [x, y, name] of [
    [200, 150 + line, 'below the top edge'],
    [200, 350, 'below the bottom edge'],
    [100 + line, 250, 'right of the left edge'],
    [99, 250, 'left of the left edge'],
    [300, 250, 'right of the right edge'],
  ] as const) {
    t.equal(at(x, y), [GREY, GREY, GREY].join(), name);
  }
});
