import type { Detection } from '../../func/detector/core/postprocess.js';

/** What ../shared/README.md says a correct pipeline finds with yolov8n-coco-int8-640 (conf 0.25, IoU 0.7). */
export interface Expected {
  label: string;
  confidence: number;
  box: [number, number, number, number];
}

export const BUS: Expected[] = [
  { label: 'person', confidence: 0.9, box: [673, 381, 810, 879] },
  { label: 'person', confidence: 0.89, box: [221, 408, 343, 857] },
  { label: 'person', confidence: 0.88, box: [51, 399, 242, 903] },
  { label: 'bus', confidence: 0.81, box: [37, 231, 799, 777] },
  { label: 'person', confidence: 0.41, box: [0, 551, 61, 870] },
];

export const ZIDANE: Expected[] = [
  { label: 'person', confidence: 0.85, box: [115, 198, 1109, 710] },
  { label: 'person', confidence: 0.83, box: [750, 45, 1139, 709] },
  { label: 'tie', confidence: 0.36, box: [434, 437, 508, 717] },
];

/** A few pixels and ±0.03 in score, as the reference allows. */
export function matches(d: Detection, e: Expected, px = 4, score = 0.03): boolean {
  const b = [d.box.x1, d.box.y1, d.box.x2, d.box.y2];
  return (
    d.label === e.label &&
    Math.abs(d.confidence - e.confidence) <= score &&
    b.every((v, i) => Math.abs(v - e.box[i]!) <= px)
  );
}

/** The expected detections not found among `found`, described for a failure message. */
export function missing(found: readonly Detection[], expected: readonly Expected[], px = 4, score = 0.03): string[] {
  return expected
    .filter((e) => !found.some((d) => matches(d, e, px, score)))
    .map((e) => `${e.label} ${e.confidence} [${e.box}]`);
}

/** Intersection over union of a detection and a reference box. */
export function iouWith(d: Detection, e: Expected): number {
  const [x1, y1, x2, y2] = e.box;
  const iw = Math.min(d.box.x2, x2) - Math.max(d.box.x1, x1);
  const ih = Math.min(d.box.y2, y2) - Math.max(d.box.y1, y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((d.box.x2 - d.box.x1) * (d.box.y2 - d.box.y1) + (x2 - x1) * (y2 - y1) - inter);
}
