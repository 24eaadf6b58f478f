import t from 'tap';
import { batchedModel } from '../func/detector/core/batched-model.js';
import type { Detector } from '../func/detector/core/detector.js';
import { decodeImage } from '../func/detector/core/decode.js';
import { letterboxGeometry, letterboxInto } from '../func/detector/core/letterbox.js';
import { loadModel, type Model } from '../func/detector/core/model.js';
import { loadModelInWorker } from '../func/detector/core/worker-model.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BUS, ZIDANE, missing } from './support/expected.js';
import { testDetector } from './support/detector.js';
import { IMAGES, YOLOV8N, YOLOV8N_DYNBATCH } from './support/paths.js';

/**
 * The detector fills the same few input tensors again and again (tensor-pool.ts): each must come back from the
 * model, across the worker's thread boundary, and a refilled one must give what a fresh one gives.
 */

async function tensorOf(model: Model, image: string): Promise<Float32Array> {
  const decoded = await decodeImage(await readFile(path.join(IMAGES, image)), { maxPixels: 40e6 });
  const [h, w] = model.info.inputSize;
  const tensor = new Float32Array(3 * h * w);
  await letterboxInto(decoded, letterboxGeometry(decoded.width, decoded.height, w, h), tensor);
  return tensor;
}

const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

t.test('a worker hands the input back, and a refilled one runs as a fresh one', async (t) => {
  const model = await loadModelInWorker(YOLOV8N, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const bus = await tensorOf(model, 'bus.jpg');
  const zidane = await tensorOf(model, 'zidane.jpg');
  const fresh = (await model.run(zidane.slice(), 1)).data;

  const sent = bus.slice();
  const first = await model.run(sent, 1);
  t.equal(sent.length, 0, 'the tensor crossed to the worker: detached here');
  t.equal(first.input?.length, bus.length, 'and came back whole');
  t.ok(same(first.input!, bus), 'as it was sent');

  const reused = first.input!;
  reused.set(zidane);
  const again = await model.run(reused, 1);
  t.ok(same(again.data, fresh), "zidane.jpg in bus.jpg's buffer gives zidane.jpg's output, value for value");
});

t.test('a batched model hands back each image its own tensor', async (t) => {
  const inner = await loadModel(YOLOV8N_DYNBATCH, { providers: ['cpu'] });
  t.teardown(() => inner.release());
  const model = batchedModel(inner, { maxBatch: 2, maxDelayMs: 50 });
  const [h, w] = model.info.inputSize;
  const inputs = [0.2, 0.6].map((v) => new Float32Array(3 * h * w).fill(v));
  const outs = await Promise.all(inputs.map((input) => model.run(input, 1)));
  t.equal(outs[0]!.input, inputs[0], 'the first image its own');
  t.equal(outs[1]!.input, inputs[1], 'the second its own');
});

t.test('the detector, reusing its tensors, finds in each image what it finds fresh', async (t) => {
  const inner = await loadModel(YOLOV8N, { providers: ['cpu'] });
  t.teardown(() => inner.release());
  const given: Float32Array[] = [];
  const model: Model = { ...inner, run: (input, batch) => (given.push(input), inner.run(input, batch)) };
  const analyse = (detector: Detector, image: string) =>
    detector.analyse({ kind: 'path', path: image }, { annotate: false }).then((a) => a.detections);
  // Each in a detector of its own: a fresh tensor each.
  const fresh = {
    'bus.jpg': await analyse(testDetector(inner, '/nonexistent'), 'bus.jpg'),
    'zidane.jpg': await analyse(testDetector(inner, '/nonexistent'), 'zidane.jpg'),
  };
  t.same(missing(fresh['bus.jpg'], BUS), []);
  t.same(missing(fresh['zidane.jpg'], ZIDANE), []);
  // One slot: every image after the first is filled into the tensor the one before it used.
  const detector = testDetector(model, '/nonexistent', { maxConcurrentImages: 1 });
  for (const image of ['bus.jpg', 'zidane.jpg', 'bus.jpg', 'zidane.jpg'] as const) {
    t.same(await analyse(detector, image), fresh[image], `${image}: what a fresh tensor finds`);
  }
  t.equal(given.length, 4);
  t.ok(
    given.every((g) => g === given[0]),
    'all four images went through one tensor',
  );
});
