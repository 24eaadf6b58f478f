/**
 * The three output layouts a YOLO ONNX export can have, and how to turn each into candidate boxes in model
 * input pixels. Which layout a model uses is decided once, at load, from its output shape and class count.
 */

export type OutputLayout =
  /** [B, 4+nc, N]: cx, cy, w, h, then class scores (YOLOv8, YOLO11, YOLO12). */
  | 'v8'
  /** [B, N, 5+nc]: cx, cy, w, h, objectness, then class scores (YOLOv5). */
  | 'v5'
  /** [B, K, 6]: x1, y1, x2, y2, score, class (exports with nms=True, YOLOv10, YOLO26). */
  | 'end2end';

export interface Candidates {
  /** x1, y1, x2, y2 per candidate, in input pixels. */
  boxes: Float32Array;
  scores: Float32Array;
  classIds: Int32Array;
  count: number;
}

export class LayoutError extends Error {
  override name = 'LayoutError';
}

type Dim = number | string;

/**
 * Decide the layout from an output shape (dynamic dims may be strings or -1) and the class count from the
 * metadata, if any. Throws with the shape when it fits none of the three.
 */
export function detectLayout(
  shape: readonly Dim[],
  classCount: number | undefined,
  end2endHint = false,
): { layout: OutputLayout; classCount: number } {
  const fixed = (d: Dim | undefined): number | undefined => (typeof d === 'number' && d > 0 ? d : undefined);
  const a = fixed(shape[1]);
  const b = fixed(shape[2]);
  const describe = `[${shape.join(', ')}]`;
  if (shape.length !== 3) {
    throw new LayoutError(`output shape ${describe} is not a detector output (expected 3 dimensions)`);
  }
  if (end2endHint && b === 6) return { layout: 'end2end', classCount: classCount ?? 0 };
  if (classCount !== undefined) {
    if (a === 4 + classCount) return { layout: 'v8', classCount };
    // A v5 model with one class is also [1, N, 6]; only the end2end metadata hint tells them apart.
    if (b === 5 + classCount) return { layout: 'v5', classCount };
    if (b === 6) return { layout: 'end2end', classCount };
  } else if (b === 6) {
    return { layout: 'end2end', classCount: 0 };
  } else if (a !== undefined && b !== undefined) {
    if (a < b && a > 4) return { layout: 'v8', classCount: a - 4 };
    if (b < a && b > 5) return { layout: 'v5', classCount: b - 5 };
  }
  throw new LayoutError(
    `output shape ${describe} fits no known layout for ${classCount ?? 'an unknown number of'} classes ` +
      '(expected [1, 4+nc, N], [1, N, 5+nc] or [1, K, 6])',
  );
}

/**
 * Candidates above `conf` from one image of a batch output. `keep` optionally restricts class ids.
 * The best class is taken per candidate (one label per box, as Ultralytics predicts).
 */
export function decodeOutput(
  layout: OutputLayout,
  data: Float32Array,
  dims: readonly number[],
  batchIndex: number,
  conf: number,
  keep?: ReadonlySet<number>,
): Candidates {
  const [, d1 = 0, d2 = 0] = dims;
  const stride = d1 * d2;
  const base = batchIndex * stride;
  const boxes: number[] = [];
  const scores: number[] = [];
  const classIds: number[] = [];
  const push = (x1: number, y1: number, x2: number, y2: number, score: number, cls: number): void => {
    boxes.push(x1, y1, x2, y2);
    scores.push(score);
    classIds.push(cls);
  };
  if (layout === 'v8') {
    const n = d2;
    const nc = d1 - 4;
    // Class by class, reading the output in memory order rather than 80 rows at once: alone the two cost the
    // same, but in the server, whose other threads share the core's caches, this costs about 1-2 ms less per
    // request (docs/performance.md). Starting from conf, only scores above it are written; a candidate is one
    // whose best score passed it, and a tie goes to the lower class id, as argmax gives it.
    const bestScores = new Float64Array(n).fill(conf);
    const bestClasses = new Int32Array(n).fill(-1);
    for (let c = 0; c < nc; c++) {
      const row = base + (4 + c) * n;
      for (let i = 0; i < n; i++) {
        const s = data[row + i]!;
        if (s > bestScores[i]!) {
          bestScores[i] = s;
          bestClasses[i] = c;
        }
      }
    }
    for (let i = 0; i < n; i++) {
      const best = bestClasses[i]!;
      const bestScore = bestScores[i]!;
      if (best < 0 || (keep && !keep.has(best))) continue;
      const cx = data[base + i]!;
      const cy = data[base + n + i]!;
      const w = data[base + 2 * n + i]!;
      const h = data[base + 3 * n + i]!;
      push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, bestScore, best);
    }
  } else if (layout === 'v5') {
    const n = d1;
    const width = d2;
    const nc = width - 5;
    for (let i = 0; i < n; i++) {
      const row = base + i * width;
      const obj = data[row + 4]!;
      if (!(obj > conf)) continue;
      let best = -1;
      let bestScore = -Infinity;
      for (let c = 0; c < nc; c++) {
        const s = data[row + 5 + c]! * obj;
        if (s > bestScore) {
          bestScore = s;
          best = c;
        }
      }
      if (!(bestScore > conf) || (keep && !keep.has(best))) continue;
      const cx = data[row]!;
      const cy = data[row + 1]!;
      const w = data[row + 2]!;
      const h = data[row + 3]!;
      push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, bestScore, best);
    }
  } else {
    const k = d1;
    for (let i = 0; i < k; i++) {
      const row = base + i * 6;
      const score = data[row + 4]!;
      const cls = Math.round(data[row + 5]!);
      if (!(score > conf) || (keep && !keep.has(cls))) continue;
      push(data[row]!, data[row + 1]!, data[row + 2]!, data[row + 3]!, score, cls);
    }
  }
  return {
    boxes: Float32Array.from(boxes),
    scores: Float32Array.from(scores),
    classIds: Int32Array.from(classIds),
    count: scores.length,
  };
}
