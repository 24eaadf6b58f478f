import t from 'tap';
import { letterboxGeometry } from '../../func/detector/core/letterbox.js';
import { decodeOutput, detectLayout, LayoutError } from '../../func/detector/core/output-layout.js';
import { postprocess } from '../../func/detector/core/postprocess.js';

t.test('detectLayout from shapes and class counts', async (t) => {
  t.same(detectLayout([1, 84, 8400], 80), { layout: 'v8', classCount: 80 });
  t.same(detectLayout(['batch', 84, 8400], 80), { layout: 'v8', classCount: 80 });
  t.same(detectLayout([1, 25200, 85], 80), { layout: 'v5', classCount: 80 });
  t.same(detectLayout([1, 300, 6], 80), { layout: 'end2end', classCount: 80 });
  t.same(detectLayout([1, 84, 8400], undefined), { layout: 'v8', classCount: 80 });
  t.same(detectLayout([1, 25200, 85], undefined), { layout: 'v5', classCount: 80 });
  t.same(detectLayout([1, 300, 6], undefined), { layout: 'end2end', classCount: 0 });
  t.same(detectLayout([1, 300, 6], 1, true), { layout: 'end2end', classCount: 1 });
  t.same(detectLayout([1, 300, 6], 1), { layout: 'v5', classCount: 1 });
  t.throws(() => detectLayout([1, 1000], 80), LayoutError);
  t.throws(() => detectLayout([1, 84, 8400], 3), /\[1, 84, 8400\]/, 'the error names the shape');
});

t.test('v8 [1, 4+nc, N]: best class, confidence filter', async (t) => {
  // N = 3 candidates, nc = 2. Column-major by row: row r holds N values.
  const n = 3;
  const rows = [
    [100, 200, 50, 0], // cx
    [100, 200, 50, 0], // cy
    [20, 40, 10, 0], // w
    [20, 40, 10, 0], // h
    [0.9, 0.1, 0.2, 0], // class 0
    [0.3, 0.8, 0.1, 0], // class 1
  ].map((r) => r.slice(0, n));
  const data = Float32Array.from(rows.flat());
  const c = decodeOutput('v8', data, [1, 6, n], 0, 0.25);
  t.equal(c.count, 2, 'the 0.2 candidate is below conf');
  t.same([...c.classIds], [0, 1]);
  t.same(
    [...c.scores].map((s) => +s.toFixed(2)),
    [0.9, 0.8],
  );
  t.same([...c.boxes.slice(0, 4)], [90, 90, 110, 110]);
  t.same([...c.boxes.slice(4, 8)], [180, 180, 220, 220]);
  const onlyOne = decodeOutput('v8', data, [1, 6, n], 0, 0.25, new Set([1]));
  t.same([...onlyOne.classIds], [1], 'the class filter keeps class 1 only');
});

t.test('v8: a tie goes to the lower class, a score equal to conf is out, NaN never wins', async (t) => {
  // Five candidates, three classes; boxes all the same.
  const n = 5;
  const box = [10, 10, 4, 4].map((v) => Array<number>(n).fill(v));
  const scores = [
    [0.5, 0.25, Number.NaN, 0.1, 0.4], // class 0
    [0.5, 0.25, 0.6, 0.1, Number.NaN], // class 1
    [0.2, 0.1, Number.NaN, 0.7, 0.4], // class 2
  ];
  const data = Float32Array.from([...box, ...scores].flat());
  const c = decodeOutput('v8', data, [1, 7, n], 0, 0.25);
  t.same([...c.classIds], [0, 1, 2, 0], 'tie to class 0; 0.25 is not over 0.25; NaN skipped; 0.4 tie to class 0');
  t.same(
    [...c.scores].map((s) => +s.toFixed(2)),
    [0.5, 0.6, 0.7, 0.4],
  );
  t.equal(decodeOutput('v8', data, [1, 7, n], 0, 0.9).count, 0, 'nothing over 0.9');
});

t.test('v5 [1, N, 5+nc]: objectness times class score', async (t) => {
  const data = Float32Array.from([
    ...[100, 100, 20, 20, 0.5, 0.9, 0.2], // 0.45 for class 0
    ...[50, 50, 10, 10, 0.9, 0.1, 0.2], // 0.18: below conf
    ...[10, 10, 4, 4, 0.1, 1, 1], // objectness below conf
  ]);
  const c = decodeOutput('v5', data, [1, 3, 7], 0, 0.25);
  t.equal(c.count, 1);
  t.equal(c.classIds[0], 0);
  t.ok(Math.abs(c.scores[0]! - 0.45) < 1e-6);
  t.same([...c.boxes], [90, 90, 110, 110]);
});

t.test('end2end [1, K, 6]: corners, score and class as given', async (t) => {
  const data = Float32Array.from([...[10, 20, 30, 40, 0.8, 5], ...[0, 0, 1, 1, 0.1, 2], ...[0, 0, 0, 0, 0, 0]]);
  const c = decodeOutput('end2end', data, [1, 3, 6], 0, 0.25);
  t.equal(c.count, 1);
  t.same([...c.boxes], [10, 20, 30, 40]);
  t.equal(c.classIds[0], 5);
});

t.test('batch index selects the image', async (t) => {
  const one = [10, 20, 30, 40, 0.8, 1];
  const two = [50, 60, 70, 80, 0.7, 2];
  const data = Float32Array.from([...one, ...two]);
  const c = decodeOutput('end2end', data, [2, 1, 6], 1, 0.25);
  t.same([...c.boxes], [50, 60, 70, 80]);
  t.equal(c.classIds[0], 2);
});

t.test('postprocess undoes the letterbox, clips, sorts, and drops boxes clipped to nothing', async (t) => {
  const lb = letterboxGeometry(810, 1080, 640, 640); // ratio 0.5926, left 80
  const data = Float32Array.from([
    ...[70, 100, 180, 300, 0.6, 0], // partly left of the image: x1 clips to 0
    ...[100, 100, 200, 200, 0.9, 5],
    ...[0, 0, 60, 60, 0.95, 1], // entirely in the left padding: dropped
  ]);
  const names = ['person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus'];
  const dets = postprocess(
    { layout: 'end2end', data, dims: [1, 3, 6], batchIndex: 0 },
    { letterbox: lb, width: 810, height: 1080, classNames: names },
    { conf: 0.25, iou: 0.7, maxDetections: 300 },
  );
  t.same(
    dets.map((d) => d.label),
    ['bus', 'person'],
  );
  const bus = dets[0]!.box;
  t.same(bus, { x1: 33.8, y1: 168.8, x2: 202.5, y2: 337.5 });
  t.equal(dets[1]!.box.x1, 0, 'clipped to the left edge');
  for (const d of dets) t.ok(d.box.x1 < d.box.x2 && d.box.y1 < d.box.y2);
});
