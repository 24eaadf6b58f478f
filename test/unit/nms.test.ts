import t from 'tap';
import { iou, nms } from '../../func/detector/core/nms.js';
import type { Candidates } from '../../func/detector/core/output-layout.js';

const candidates = (rows: [number, number, number, number, number, number][]): Candidates => ({
  boxes: Float32Array.from(rows.flatMap((r) => r.slice(0, 4))),
  scores: Float32Array.from(rows.map((r) => r[4])),
  classIds: Int32Array.from(rows.map((r) => r[5])),
  count: rows.length,
});

t.test('iou', async (t) => {
  const c = candidates([
    [0, 0, 10, 10, 1, 0],
    [5, 0, 15, 10, 1, 0],
    [20, 20, 30, 30, 1, 0],
    [0, 0, 10, 10, 1, 0],
  ]);
  t.equal(iou(c.boxes, 0, 1), 50 / 150);
  t.equal(iou(c.boxes, 0, 2), 0);
  t.equal(iou(c.boxes, 0, 3), 1);
});

t.test('suppresses overlapping boxes of one class, keeps other classes', async (t) => {
  const c = candidates([
    [0, 0, 10, 10, 0.6, 0], // overlaps the 0.9 box with IoU 100/110 = 0.91
    [0, 0, 10, 11, 0.9, 0],
    [0, 0, 10, 10, 0.8, 1], // same place, other class: kept
    [50, 50, 60, 60, 0.7, 0], // elsewhere: kept
  ]);
  t.same(nms(c, 0.7, 300), [1, 2, 3]);
  t.same(nms(c, 0.95, 300), [1, 2, 3, 0], 'a higher threshold keeps the 0.91 overlap');
});

t.test('suppression is strict (> threshold) and max detections caps the result', async (t) => {
  const c = candidates([
    [0, 0, 10, 10, 0.9, 0],
    [5, 0, 15, 10, 0.8, 0], // IoU exactly 1/3
    [40, 0, 50, 10, 0.7, 0],
  ]);
  t.same(nms(c, 1 / 3, 300), [0, 1, 2], 'IoU equal to the threshold is kept');
  t.same(nms(c, 0.3, 300), [0, 2]);
  t.same(nms(c, 0.3, 1), [0]);
});

t.test('empty input', async (t) => {
  t.same(nms(candidates([]), 0.7, 300), []);
});
