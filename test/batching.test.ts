import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { batchedModel } from '../func/detector/core/batched-model.js';
import type { Analysis, Detector } from '../func/detector/core/detector.js';
import { loadModel, type Model } from '../func/detector/core/model.js';
import type { Detection } from '../func/detector/core/postprocess.js';
import { loadModelInWorker } from '../func/detector/core/worker-model.js';
import { iouWith } from './support/expected.js';
import { COCO128, IMAGES, YOLOV8N, YOLOV8N_DYNBATCH } from './support/paths.js';
import { binaryEvent, startServer } from './support/server-process.js';
import { scratchDir } from './support/scratch.js';
import { testDetector } from './support/detector.js';

/**
 * Micro-batching on the real dynamic-batch model: images stacked into one session.run must come back to the
 * right requests with the detections they get alone. Scores move a little in a batch, since the int8 activation
 * scales are computed over the whole batch: measured up to 0.09 on these images, so confident detections
 * (>= 0.5) are compared by label and box, with 0.12 allowed in score.
 */
const FILES = ['000000000009.jpg', '000000000025.jpg', '000000000030.jpg', '000000000034.jpg'];

function detectorOn(model: Model): Detector {
  return testDetector(model, os.tmpdir(), { inputDir: path.join(COCO128, 'images') });
}

const analyseAll = (d: Detector): Promise<Analysis[]> =>
  Promise.all(FILES.map((f) => d.analyse({ kind: 'path', path: f }, { annotate: false })));

/** Confident detections of `alone` that `batched` lacks (same label, IoU > 0.9, score within 0.12). */
function unmatched(alone: Detection[], batched: Detection[]): string[] {
  return alone
    .filter((d) => d.confidence >= 0.5)
    .filter(
      (a) =>
        !batched.some(
          (b) =>
            b.label === a.label &&
            Math.abs(b.confidence - a.confidence) <= 0.12 &&
            iouWith(b, { label: a.label, confidence: a.confidence, box: [a.box.x1, a.box.y1, a.box.x2, a.box.y2] }) >
              0.9,
        ),
    )
    .map((d) => `${d.label} ${d.confidence}`);
}

async function load(t: Test, file: string): Promise<Model> {
  const m = await loadModelInWorker(file, { providers: ['cpu'] });
  t.teardown(() => m.release());
  return m;
}

t.test('four concurrent images share one run and each gets its own detections', async (t) => {
  const sizes: number[] = [];
  const dyn = await load(t, YOLOV8N_DYNBATCH);
  t.equal(dyn.info.batch, 'dynamic');
  const batched = detectorOn(batchedModel(dyn, { maxBatch: 4, maxDelayMs: 5000 }, (n) => sizes.push(n)));
  const alone = detectorOn(await load(t, YOLOV8N));

  const b = await analyseAll(batched);
  t.same(sizes, [4], 'one session.run of four images');
  const a: Analysis[] = [];
  for (const f of FILES) a.push(await alone.analyse({ kind: 'path', path: f }, { annotate: false }));
  for (let i = 0; i < FILES.length; i++) {
    t.same(b[i]!.image, a[i]!.image, `${FILES[i]}: the reply is about its own image`);
    t.ok(a[i]!.detections.length > 0, `${FILES[i]}: the static model finds something`);
    t.same(unmatched(a[i]!.detections, b[i]!.detections), [], `${FILES[i]}: batched finds what alone finds`);
    t.same(unmatched(b[i]!.detections, a[i]!.detections), [], `${FILES[i]}: and nothing else`);
  }
});

t.test('a bad input is refused alone; its batch-mates still run', async (t) => {
  const sizes: number[] = [];
  const dyn = await load(t, YOLOV8N_DYNBATCH);
  const model = batchedModel(dyn, { maxBatch: 3, maxDelayMs: 200 }, (n) => sizes.push(n));
  const good = new Float32Array(3 * 640 * 640).fill(0.5);
  const settled = await Promise.allSettled([
    model.run(good.slice(), 1),
    model.run(new Float32Array(100), 1),
    model.run(good.slice(), 1),
  ]);
  t.same(
    settled.map((s) => s.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  t.match((settled[1] as PromiseRejectedResult).reason, /input has 100 values/);
  t.same((settled[0] as PromiseFulfilledResult<{ dims: number[] }>).value.dims, [1, 84, 8400]);
  t.same(sizes, [2], 'the two good images ran together');
});

t.test('a static model cannot be batched', async (t) => {
  const m = await loadModel(YOLOV8N, { providers: ['cpu'] });
  t.teardown(() => m.release());
  t.throws(() => batchedModel(m, { maxBatch: 4, maxDelayMs: 5 }), /static batch axis/);
});

t.test('the server batches concurrent requests; a corrupt image fails alone', async (t) => {
  const out = await scratchDir(t, 'kyolo-batching-');
  const server = await startServer('server', {
    env: {
      MODEL_PATH: YOLOV8N_DYNBATCH,
      INPUT_DIR: IMAGES,
      OUTPUT_DIR: out,
      MAX_BATCH: '4',
      MAX_BATCH_DELAY_MS: '1000',
    },
  });
  t.teardown(() => server.stop('SIGKILL'));
  const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
  const zidane = await readFile(path.join(IMAGES, 'zidane.jpg'));
  const bodies = [bus, zidane, bus.subarray(0, 2000), bus];
  const replies = await Promise.all(
    bodies.map(async (body, i) => {
      const res = await fetch(server.url + '/', binaryEvent(`batch-${i}`, body, 'image/jpeg'));
      return { status: res.status, body: (await res.json()) as { detections?: Detection[]; code?: string } };
    }),
  );
  t.same(
    replies.map((r) => r.status),
    [200, 200, 400, 200],
  );
  const labels = (i: number): string[] => [...new Set(replies[i]!.body.detections!.map((d) => d.label))].sort();
  t.same(labels(0), ['bus', 'person'], 'bus.jpg');
  t.same(labels(1), ['person', 'tie'], 'zidane.jpg');
  t.same(labels(3), ['bus', 'person'], 'bus.jpg again');
  const metrics = await (await fetch(server.url + '/metrics')).text();
  const sum = Number(/^yolo_batch_size_sum (\S+)/m.exec(metrics)?.[1]);
  const count = Number(/^yolo_batch_size_count (\S+)/m.exec(metrics)?.[1]);
  t.ok(sum > count, `some session.run held more than one image (${sum} images in ${count} runs)`);
});

t.test('MAX_BATCH on a static model is ignored with a warning', async (t) => {
  const out = await scratchDir(t, 'kyolo-batching-');
  const server = await startServer('server', {
    env: { MODEL_PATH: YOLOV8N, INPUT_DIR: IMAGES, OUTPUT_DIR: out, MAX_BATCH: '4' },
  });
  t.teardown(() => server.stop('SIGKILL'));
  t.ok(await server.waitForOutput(/MAX_BATCH is ignored: the model has a static batch axis/));
  const res = await fetch(
    server.url + '/',
    binaryEvent('static', await readFile(path.join(IMAGES, 'bus.jpg')), 'image/jpeg'),
  );
  t.equal(res.status, 200);
});
