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

t.test('outputs come in shared slots, each written only once handed back', async (t) => {
  const model = await loadModelInWorker(YOLOV8N, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const bus = await tensorOf(model, 'bus.jpg');
  const zidane = await tensorOf(model, 'zidane.jpg');
  const first = await model.run(bus.slice(), 1);
  t.notOk(first.data.buffer instanceof SharedArrayBuffer, 'with no slot yet, the output came transferred');
  t.equal(first.recycle, undefined, 'and there is nothing to hand back');
  const fresh = { bus: first.data, zidane: new Float32Array(0) };

  const a = await model.run(zidane.slice(), 1);
  t.ok(a.data.buffer instanceof SharedArrayBuffer, 'the first output made a slot, which the next took');
  fresh.zidane = a.data.slice();
  const b = await model.run(bus.slice(), 1);
  t.notOk(b.data.buffer instanceof SharedArrayBuffer, 'with the one slot out, the next came transferred');
  t.ok(same(a.data, fresh.zidane), 'an output not handed back is not written over');
  t.ok(same(b.data, fresh.bus), "and the next is bus.jpg's, value for value");

  // b made a second slot; a's comes back, twice.
  a.recycle!();
  a.recycle!();
  const c = await model.run(bus.slice(), 1);
  const d = await model.run(bus.slice(), 1);
  t.equal(c.data.buffer, a.data.buffer, 'a slot handed back is used again');
  t.ok(d.data.buffer instanceof SharedArrayBuffer, 'so is the one made meanwhile');
  t.not(d.data.buffer, c.data.buffer, 'a slot handed back twice is still one slot');
  t.ok(same(c.data, fresh.bus) && same(d.data, fresh.bus), "both bus.jpg's output, value for value");
  const e = await model.run(zidane.slice(), 1);
  t.notOk(e.data.buffer instanceof SharedArrayBuffer, 'no more than two slots are made');
  t.ok(same(e.data, fresh.zidane));
});

t.test('a batched model over a worker hands back a lone image its output slot, not batch-mates', async (t) => {
  const inner = await loadModelInWorker(YOLOV8N_DYNBATCH, { providers: ['cpu'] });
  t.teardown(() => inner.release());
  const model = batchedModel(inner, { maxBatch: 2, maxDelayMs: 50 });
  const [h, w] = model.info.inputSize;
  await model.run(new Float32Array(3 * h * w).fill(0.5), 1);
  const alone = await model.run(new Float32Array(3 * h * w).fill(0.5), 1);
  t.type(alone.recycle, 'function', 'alone: its output is the whole slot');
  const mates = await Promise.all([0.2, 0.6].map((v) => model.run(new Float32Array(3 * h * w).fill(v), 1)));
  t.ok(
    mates.every((o) => o.recycle === undefined),
    'batch-mates share one output: neither hands it back',
  );
});

t.test('the detector hands every output back', async (t) => {
  const inner = await loadModelInWorker(YOLOV8N, { providers: ['cpu'] });
  t.teardown(() => inner.release());
  let outputs = 0;
  let recycled = 0;
  const model: Model = {
    ...inner,
    async run(input, batch) {
      const out = await inner.run(input, batch);
      const recycle = out.recycle;
      if (!recycle) return out;
      outputs++;
      return { ...out, recycle: () => (recycled++, recycle()) };
    },
  };
  const detector = testDetector(model, '/nonexistent');
  await detector.warmUp();
  for (const image of ['bus.jpg', 'zidane.jpg', 'bus.jpg']) {
    const { detections } = await detector.analyse({ kind: 'path', path: image }, { annotate: false });
    t.same(missing(detections, image === 'bus.jpg' ? BUS : ZIDANE), [], `${image}: what it should find`);
  }
  t.equal(outputs, 3, 'each came out in a slot');
  t.equal(recycled, 3, 'and each slot was handed back');
});
