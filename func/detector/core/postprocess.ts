import { toOriginal, type Letterbox } from './letterbox.js';
import { nms } from './nms.js';
import type { Detection } from '../../shared/record.js';
import { decodeOutput, type OutputLayout } from './output-layout.js';

export type { Box, Detection } from '../../shared/record.js';

/** One image's slice of a model output. */
export interface RawOutput {
  layout: OutputLayout;
  data: Float32Array;
  dims: readonly number[];
  /** Which image of the batch. */
  batchIndex: number;
}

/** How the image was fitted into the model input, to map boxes back, and what the class ids are called. */
export interface ImageFrame {
  letterbox: Letterbox;
  width: number;
  height: number;
  classNames: readonly string[];
}

export interface PostprocessOptions {
  conf: number;
  iou: number;
  maxDetections: number;
  /** Class ids to keep; undefined keeps all. */
  classIds?: ReadonlySet<number>;
}

const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/**
 * Model output for one image → detections in original-image pixels, clipped to the image, sorted by
 * confidence. Boxes that clipping reduces to nothing are dropped, so x1 < x2 and y1 < y2 always hold.
 */
export function postprocess(output: RawOutput, frame: ImageFrame, options: PostprocessOptions): Detection[] {
  const { letterbox: lb, width: imageWidth, height: imageHeight, classNames } = frame;
  const candidates = decodeOutput(
    output.layout,
    output.data,
    output.dims,
    output.batchIndex,
    options.conf,
    options.classIds,
  );
  const kept = nms(candidates, options.iou, options.maxDetections);
  const detections: Detection[] = [];
  const clip = (v: number, max: number): number => Math.min(Math.max(v, 0), max);
  for (const i of kept) {
    const b = candidates.boxes;
    const [ox1, oy1] = toOriginal(lb, b[4 * i]!, b[4 * i + 1]!);
    const [ox2, oy2] = toOriginal(lb, b[4 * i + 2]!, b[4 * i + 3]!);
    const box = {
      x1: round(clip(ox1, imageWidth), 1),
      y1: round(clip(oy1, imageHeight), 1),
      x2: round(clip(ox2, imageWidth), 1),
      y2: round(clip(oy2, imageHeight), 1),
    };
    if (!(box.x1 < box.x2 && box.y1 < box.y2)) continue;
    const classId = candidates.classIds[i]!;
    detections.push({
      classId,
      label: classNames[classId] ?? `class${classId}`,
      confidence: round(candidates.scores[i]!, 4),
      box,
    });
  }
  return detections;
}
