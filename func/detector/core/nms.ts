import type { Candidates } from './output-layout.js';

/** Intersection over union of boxes i and j of a packed x1,y1,x2,y2 array. */
export function iou(boxes: Float32Array, i: number, j: number): number {
  const ax1 = boxes[4 * i]!;
  const ay1 = boxes[4 * i + 1]!;
  const ax2 = boxes[4 * i + 2]!;
  const ay2 = boxes[4 * i + 3]!;
  const bx1 = boxes[4 * j]!;
  const by1 = boxes[4 * j + 1]!;
  const bx2 = boxes[4 * j + 2]!;
  const by2 = boxes[4 * j + 3]!;
  const iw = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  const ih = Math.min(ay2, by2) - Math.max(ay1, by1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  return union > 0 ? inter / union : 0;
}

/** Ultralytics keeps at most this many candidates, by score, before NMS. */
export const MAX_NMS_CANDIDATES = 30000;

/**
 * Class-wise greedy NMS: a box suppresses lower-scored boxes of its own class whose IoU exceeds `iouThreshold`.
 * Returns the kept indices, highest score first, at most `maxDetections`. End-to-end models have already run
 * NMS, and running it again with the same threshold is a no-op there, so callers need not special-case them.
 */
export function nms(c: Candidates, iouThreshold: number, maxDetections: number): number[] {
  const order = Array.from({ length: c.count }, (_, i) => i).sort((a, b) => c.scores[b]! - c.scores[a]!);
  if (order.length > MAX_NMS_CANDIDATES) order.length = MAX_NMS_CANDIDATES;
  const byClass = new Map<number, number[]>();
  const keep: number[] = [];
  for (const i of order) {
    const cls = c.classIds[i]!;
    let kept = byClass.get(cls);
    if (!kept) {
      kept = [];
      byClass.set(cls, kept);
    }
    let suppressed = false;
    for (const k of kept) {
      if (iou(c.boxes, i, k) > iouThreshold) {
        suppressed = true;
        break;
      }
    }
    if (suppressed) continue;
    kept.push(i);
    keep.push(i);
    if (keep.length >= maxDetections) break;
  }
  return keep;
}
