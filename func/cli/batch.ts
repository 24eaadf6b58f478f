import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Detector, DetectOptions } from '../detector/core/detector.js';
import type { OutputStore } from '../detector/core/storage.js';
import { DetectionError } from '../shared/errors.js';
import { inSpan, markError } from '../shared/tracing.js';
import type { DetectionRecord } from '../shared/record.js';

/**
 * Batch mode: every image under a folder (or a list of files) through the same core as the services, with the
 * same two outputs per image, written next to each other under the output folder:
 *   <out>/<relative path>.json   the detection record, written last: its presence means "done"
 *   <out>/<relative path>        the annotated image (or <relative path>.png when the source is not JPEG/PNG)
 */

export const IMAGE_EXTENSIONS = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
  '.heif',
]);

export interface BatchInput {
  /** Absolute path of the file. */
  file: string;
  /** Path relative to its root: names the outputs. */
  rel: string;
}

export type ItemStatus = 'done' | 'skipped' | 'failed' | 'not-an-image';

export interface ItemResult {
  file: string;
  status: ItemStatus;
  detections: number;
  labels: Record<string, number>;
  ms: number;
  error?: string;
}

export interface BatchSummary {
  model: DetectionRecord['model'];
  shard: { index: number; count: number };
  totals: Record<ItemStatus, number> & { images: number; detections: number; ms: number };
  failed: { file: string; error: string }[];
  items: ItemResult[];
}

export interface BatchOptions {
  out: OutputStore;
  options: Partial<DetectOptions>;
  concurrency: number;
  force: boolean;
  shardIndex: number;
  shardCount: number;
  onItem?: (result: ItemResult, done: number, total: number) => void;
}

/** Every file under the inputs (folders recursively), with paths relative to the folder they were found in. */
export async function collectInputs(inputs: readonly string[]): Promise<BatchInput[]> {
  const found: BatchInput[] = [];
  const walk = async (root: string, dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await walk(root, full);
      else if (e.isFile()) found.push({ file: full, rel: path.relative(root, full).split(path.sep).join('/') });
    }
  };
  for (const input of inputs) {
    const abs = path.resolve(input);
    const entries = await readdir(abs, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOTDIR') return undefined;
      throw new DetectionError('INPUT_NOT_FOUND', `Cannot read ${input}: ${err.code}.`);
    });
    if (entries === undefined) found.push({ file: abs, rel: path.basename(abs) });
    else await walk(abs, abs);
  }
  // A stable order, so that shards split the same list the same way on every pod.
  return found.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** Round-robin over the sorted list: shard i of n takes items i, i+n, i+2n, … */
export function shard<T>(items: readonly T[], index: number, count: number): T[] {
  return items.filter((_, i) => i % count === index);
}

export function outputPaths(rel: string, annotatedExt: 'jpg' | 'png' | undefined): { image?: string; json: string } {
  const ext = path.extname(rel).toLowerCase();
  const sameFormat =
    (annotatedExt === 'jpg' && (ext === '.jpg' || ext === '.jpeg')) || (annotatedExt === 'png' && ext === '.png');
  return {
    json: `${rel}.json`,
    ...(annotatedExt ? { image: sameFormat ? rel : `${rel}.${annotatedExt}` } : {}),
  };
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

export async function runBatch(
  detector: Detector,
  inputs: readonly BatchInput[],
  o: BatchOptions,
): Promise<BatchSummary> {
  const mine = shard(inputs, o.shardIndex, o.shardCount);
  const results: ItemResult[] = new Array(mine.length);
  let next = 0;
  let finished = 0;
  const one = async (input: BatchInput): Promise<ItemResult> => {
    const t0 = performance.now();
    const base = { file: input.rel, detections: 0, labels: {} as Record<string, number> };
    if (!IMAGE_EXTENSIONS.has(path.extname(input.rel).toLowerCase())) {
      return { ...base, status: 'not-an-image', ms: 0 };
    }
    if (!o.force && (await exists(o.out.resolve(outputPaths(input.rel, undefined).json)))) {
      return { ...base, status: 'skipped', ms: 0 };
    }
    try {
      const bytes = await readFile(input.file);
      const analysis = await detector.analyse(
        { kind: 'bytes', bytes, contentType: 'application/octet-stream' },
        o.options,
      );
      const paths = outputPaths(input.rel, analysis.annotated?.extension);
      const record: DetectionRecord = {
        requestId: input.rel,
        requestSource: 'knative-yolo-cli',
        input: { path: input.rel },
        image: analysis.image,
        model: detector.modelSummary(),
        detections: analysis.detections,
        output: { image: paths.image ?? null, json: paths.json },
        timings: analysis.timings,
      };
      const files = [];
      if (analysis.annotated && paths.image) files.push({ relativePath: paths.image, data: analysis.annotated.data });
      files.push({ relativePath: paths.json, data: JSON.stringify(record, null, 2) + '\n' });
      await o.out.write(files);
      const labels: Record<string, number> = {};
      for (const d of record.detections) labels[d.label] = (labels[d.label] ?? 0) + 1;
      return {
        ...base,
        status: 'done',
        detections: record.detections.length,
        labels,
        ms: Math.round(performance.now() - t0),
      };
    } catch (err) {
      return { ...base, status: 'failed', ms: Math.round(performance.now() - t0), error: (err as Error).message };
    }
  };
  // One span per image, children of the run's span (a trace per run when tracing is on).
  const traced = (input: BatchInput): Promise<ItemResult> =>
    inSpan('yolo.batch.image', async (span) => {
      span.setAttribute('yolo.file', input.rel);
      const result = await one(input);
      span.setAttributes({ 'yolo.status': result.status, 'yolo.detections': result.detections });
      if (result.status === 'failed') markError(span, new Error(result.error));
      return result;
    });
  const worker = async (): Promise<void> => {
    for (let i = next++; i < mine.length; i = next++) {
      results[i] = await traced(mine[i]!);
      finished++;
      o.onItem?.(results[i]!, finished, mine.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, mine.length)) }, worker));

  const totals = { images: 0, done: 0, skipped: 0, failed: 0, 'not-an-image': 0, detections: 0, ms: 0 };
  for (const r of results) {
    totals[r.status]++;
    if (r.status !== 'not-an-image') totals.images++;
    totals.detections += r.detections;
    totals.ms += r.ms;
  }
  return {
    model: detector.modelSummary(),
    shard: { index: o.shardIndex, count: o.shardCount },
    totals,
    failed: results.filter((r) => r.status === 'failed').map((r) => ({ file: r.file, error: r.error ?? '' })),
    items: results,
  };
}

const csvField = (v: string | number): string => {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** One row per file: file, status, detections, the count per label ("person=4 bus=1"), time, error. */
export function summaryCsv(summary: BatchSummary): string {
  const rows = [['file', 'status', 'detections', 'labels', 'ms', 'error']];
  for (const r of summary.items) {
    const labels = Object.entries(r.labels)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .map(([l, n]) => `${l}=${n}`)
      .join(' ');
    rows.push([r.file, r.status, String(r.detections), labels, String(r.ms), r.error ?? '']);
  }
  return rows.map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}
