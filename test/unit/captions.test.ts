import t from 'tap';
import { placeCaptions, type Rect } from '../../func/detector/core/annotate.js';

const box = (x0: number, y0: number, x1: number, y1: number): Rect => ({ x0, y0, x1, y1 });
const size = { w: 100, h: 20 };

t.test('a caption sits above its box when there is room', async (t) => {
  t.same(placeCaptions([box(50, 100, 300, 400)], [size], 1000, 1000), [box(50, 80, 150, 100)]);
});

t.test('at the top edge it goes just inside the box', async (t) => {
  t.same(placeCaptions([box(50, 5, 300, 400)], [size], 1000, 1000), [box(50, 5, 150, 25)]);
});

t.test('a caption does not cover a more confident one', async (t) => {
  // Two boxes with the same top, the second starting 40 px to the right: its caption above would overlap.
  const spots = placeCaptions([box(50, 100, 300, 400), box(90, 100, 400, 500)], [size, size], 1000, 1000);
  t.same(spots[0], box(50, 80, 150, 100), 'the most confident keeps the spot above');
  t.same(spots[1], box(90, 100, 190, 120), 'the next goes inside its top edge');
});

t.test('when every spot is taken, the caption goes above anyway', async (t) => {
  const b = box(50, 100, 300, 200);
  const spots = placeCaptions([b, b, b, b, b], [size, size, size, size, size], 1000, 1000);
  t.same(
    spots.map((s) => s.y0),
    [80, 100, 200, 180, 80],
    'above, inside top, below, inside bottom, then above again',
  );
});

t.test('captions stay inside the image', async (t) => {
  const [spot] = placeCaptions([box(950, 0, 1000, 10)], [size], 1000, 1000);
  t.same(spot, box(900, 0, 1000, 20), 'moved left of the right edge, inside the top');
  const [tiny] = placeCaptions([box(0, 0, 10, 10)], [{ w: 100, h: 20 }], 50, 15);
  t.same(tiny, box(0, 0, 100, 20), 'an image smaller than the caption: top-left');
});
