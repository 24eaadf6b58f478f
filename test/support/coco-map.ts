/**
 * COCO-style mean average precision, written for the accuracy test: mAP over IoU 0.50:0.05:0.95 with
 * 101-point interpolated precision, averaged over the classes that have ground truth. Matching is greedy by
 * descending confidence, each prediction taking the unmatched ground-truth box of its class with the highest
 * IoU at or above the threshold (as pycocotools does, without crowd or area ranges).
 */

export interface EvalBox {
  classId: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface EvalPrediction extends EvalBox {
  confidence: number;
}

export interface ImageEval {
  truths: EvalBox[];
  predictions: EvalPrediction[];
}

export const IOU_THRESHOLDS = Array.from({ length: 10 }, (_, i) => 0.5 + 0.05 * i);

export function boxIou(a: EvalBox, b: EvalBox): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

/** 101-point interpolated AP from recall/precision arrays ordered by descending confidence. */
export function interpolatedAp(recall: number[], precision: number[]): number {
  const p = [...precision];
  for (let i = p.length - 2; i >= 0; i--) p[i] = Math.max(p[i]!, p[i + 1]!);
  let sum = 0;
  let j = 0;
  for (let k = 0; k <= 100; k++) {
    const r = k / 100;
    while (j < recall.length && recall[j]! < r - 1e-12) j++;
    sum += j < recall.length ? p[j]! : 0;
  }
  return sum / 101;
}

export interface MapResult {
  map50_95: number;
  map50: number;
  classesEvaluated: number;
  perClass: Map<number, number>;
}

export function meanAveragePrecision(images: ImageEval[]): MapResult {
  const classes = new Set<number>();
  for (const img of images) for (const t of img.truths) classes.add(t.classId);
  const perClass = new Map<number, number>();
  let sum50 = 0;
  let sumAll = 0;
  for (const cls of classes) {
    const preds: { img: number; p: EvalPrediction }[] = [];
    let nTruth = 0;
    images.forEach((img, i) => {
      for (const p of img.predictions) if (p.classId === cls) preds.push({ img: i, p });
      for (const t of img.truths) if (t.classId === cls) nTruth++;
    });
    preds.sort((a, b) => b.p.confidence - a.p.confidence);
    let apSum = 0;
    for (const thr of IOU_THRESHOLDS) {
      const used = images.map((img) => img.truths.map(() => false));
      let tp = 0;
      let fp = 0;
      const recall: number[] = [];
      const precision: number[] = [];
      for (const { img, p } of preds) {
        const truths = images[img]!.truths;
        let best = -1;
        let bestIou = thr - 1e-12;
        truths.forEach((t, k) => {
          if (t.classId !== cls || used[img]![k]) return;
          const v = boxIou(p, t);
          if (v >= bestIou) {
            bestIou = v;
            best = k;
          }
        });
        if (best >= 0) {
          used[img]![best] = true;
          tp++;
        } else fp++;
        recall.push(tp / nTruth);
        precision.push(tp / (tp + fp));
      }
      const ap = interpolatedAp(recall, precision);
      apSum += ap;
      if (thr === 0.5) sum50 += ap;
    }
    perClass.set(cls, apSum / IOU_THRESHOLDS.length);
    sumAll += apSum / IOU_THRESHOLDS.length;
  }
  return {
    map50_95: classes.size ? sumAll / classes.size : 0,
    map50: classes.size ? sum50 / classes.size : 0,
    classesEvaluated: classes.size,
    perClass,
  };
}

/** YOLO label lines (`class cx cy w h`, normalised) to pixel boxes. */
export function parseYoloLabels(text: string, width: number, height: number): EvalBox[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [c, cx, cy, w, h] = line.split(/\s+/).map(Number) as [number, number, number, number, number];
      return {
        classId: c,
        x1: (cx - w / 2) * width,
        y1: (cy - h / 2) * height,
        x2: (cx + w / 2) * width,
        y2: (cy + h / 2) * height,
      };
    });
}
