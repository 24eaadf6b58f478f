import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import t, { type Test } from 'tap';
import { Detector, type DetectionJob } from '../func/detector/core/detector.js';
import { describeModelFile, loadModel, ModelLoadError } from '../func/detector/core/model.js';
import { BUS, iouWith, missing, ZIDANE } from './support/expected.js';
import { IMAGES, YOLO11N_192, YOLO11N_320, YOLOV8N, YOLOV8N_DYNBATCH } from './support/paths.js';
import { scratchDir } from './support/scratch.js';
import { testDetector } from './support/detector.js';

const job = (file: string, options: DetectionJob['options'] = {}): DetectionJob => ({
  requestId: file,
  requestSource: 'model-test',
  time: new Date('2026-01-02T03:04:05Z'),
  input: { kind: 'path', path: file },
  options,
});

async function detectorFor(t: Test, model: string, inputDir = IMAGES): Promise<{ detector: Detector; out: string }> {
  const out = await scratchDir(t, 'kyolo-model-');
  const m = await loadModel(model, { providers: ['cpu'] });
  t.teardown(() => m.release());
  return { detector: testDetector(m, out, { inputDir }), out };
}

t.test('yolov8n-coco-int8-640 finds the reference detections', async (t) => {
  const { detector, out } = await detectorFor(t, YOLOV8N);
  const info = detector.model.info;
  t.match(info, { layout: 'v8', inputSize: [640, 640], batch: 'static', quantized: true, task: 'detect', stride: 32 });
  t.equal(info.classNames.length, 80);
  t.equal(info.classNames[0], 'person');
  t.equal(info.classNames[79], 'toothbrush');
  t.equal(info.sha256, '8c6f0ca55e9b86c15fd6788a9edb78da087881df55cb225a64842284b84e250c');

  const bus = await detector.detect(job('bus.jpg'));
  t.same(missing(bus.record.detections, BUS), [], 'bus.jpg: every reference detection found');
  t.equal(bus.record.detections.length, BUS.length, 'bus.jpg: nothing else above 0.25');
  t.same(bus.record.image, { width: 810, height: 1080 });
  const confidences = bus.record.detections.map((d) => d.confidence);
  t.same(
    confidences,
    [...confidences].sort((a, b) => b - a),
    'sorted by confidence',
  );

  const zidane = await detector.detect(job('zidane.jpg'));
  t.same(missing(zidane.record.detections, ZIDANE), [], 'zidane.jpg: every reference detection found');
  const low = zidane.record.detections.filter((d) => d.confidence < 0.3);
  t.equal(low.length, 2, 'zidane.jpg: two low persons near 0.27');
  t.ok(low.every((d) => d.label === 'person' && Math.abs(d.confidence - 0.27) <= 0.03));

  for (const r of [bus.record, zidane.record]) {
    for (const d of r.detections) {
      const { x1, y1, x2, y2 } = d.box;
      t.ok(x1 >= 0 && y1 >= 0 && x2 <= r.image.width && y2 <= r.image.height && x1 < x2 && y1 < y2, 'clipped box');
    }
  }
  t.equal(bus.record.output.image, '2026/01/02/bus_jpg-' + bus.record.output.image!.split('-').pop());
  const annotated = await sharp(path.join(out, bus.record.output.image!)).metadata();
  t.match(annotated, { format: 'jpeg', width: 810, height: 1080 }, 'the annotated image is a JPEG of the same size');
  const json = JSON.parse(await readFile(path.join(out, bus.record.output.json), 'utf8'));
  t.same(json.detections, bus.record.detections, 'the JSON file holds the reply data');
});

t.test('options: class filter, max detections, conf, annotate=false', async (t) => {
  const { detector, out } = await detectorFor(t, YOLOV8N);
  const onlyBus = await detector.detect(job('bus.jpg', { classes: ['bus'] }));
  t.same(
    onlyBus.record.detections.map((d) => d.label),
    ['bus'],
  );
  const top2 = await detector.detect(job('bus.jpg', { maxDetections: 2 }));
  t.equal(top2.record.detections.length, 2);
  const confident = await detector.detect(job('bus.jpg', { conf: 0.85 }));
  t.equal(confident.record.detections.length, 3);
  const plain = await detector.detect(job('zidane.jpg', { annotate: false }));
  t.equal(plain.record.output.image, null);
  t.equal(plain.annotated, undefined);
  await t.resolves(readFile(path.join(out, plain.record.output.json)));
  await t.rejects(detector.detect(job('bus.jpg', { classes: ['unicorn'] })), { code: 'INVALID_OPTION' });
});

t.test('annotate: false finds what an annotated request finds, by whichever decode path it takes', async (t) => {
  const { detector } = await detectorFor(t, YOLOV8N);
  const bytes = await readFile(path.join(IMAGES, 'bus.jpg'));
  // bus.jpg and its PNG and WebP are near the model's size; a 12 MP photo made from it decodes at reduced scale.
  const inputs: [string, Buffer, string][] = [
    ['JPEG', bytes, 'image/jpeg'],
    ['PNG', await sharp(bytes).png().toBuffer(), 'image/png'],
    ['WebP', await sharp(bytes).webp({ lossless: true }).toBuffer(), 'image/webp'],
    ['12 MP JPEG', await sharp(bytes).resize(4032, 3024, { fit: 'cover' }).jpeg().toBuffer(), 'image/jpeg'],
  ];
  for (const [name, data, contentType] of inputs) {
    const input = { kind: 'bytes' as const, bytes: data, contentType };
    const drawn = await detector.analyse(input, {});
    const plain = await detector.analyse(input, { annotate: false });
    t.equal(plain.annotated, undefined, `${name}: nothing drawn`);
    t.same(plain.detections, drawn.detections, `${name}: the same ${drawn.detections.length} detections`);
  }
});

t.test('yolo11n at 320 and 192 run and find the bus and people', async (t) => {
  for (const model of [YOLO11N_320, YOLO11N_192]) {
    const { detector } = await detectorFor(t, model);
    const size = model === YOLO11N_320 ? 320 : 192;
    t.same(detector.model.info.inputSize, [size, size]);
    const { record } = await detector.detect(job('bus.jpg'));
    const labels = record.detections.map((d) => d.label);
    t.ok(labels.includes('bus'), `${path.basename(model)} finds the bus: ${labels}`);
    t.ok(labels.filter((l) => l === 'person').length >= 3, `${path.basename(model)} finds at least 3 persons`);
  }
});

t.test('the dynamic-batch export loads with a dynamic batch axis', async (t) => {
  const m = await loadModel(YOLOV8N_DYNBATCH, { providers: ['cpu'] });
  t.teardown(() => m.release());
  t.equal(m.info.batch, 'dynamic');
  t.equal(m.info.layout, 'v8');
});

t.test('ONNX metadata is read from the file, not guessed', async (t) => {
  const { onnx, sha256 } = await describeModelFile(YOLO11N_320);
  t.equal(sha256, '5ea9b19c6c4d89041175fd2d4f9d2e1581d16f37b817021d547278fc5e2f2b58');
  t.equal(onnx.metadata.get('task'), 'detect');
  t.equal(onnx.metadata.get('imgsz'), '[320, 320]');
  t.ok(onnx.opTypes.includes('ConvInteger'), 'int8 weights show as ConvInteger');
  t.ok(onnx.opsets.some((o) => o.domain === '' && o.version > 10));
});

t.test('files that are not models are refused with a reason', async (t) => {
  const dir = await scratchDir(t, 'kyolo-bad-');
  await t.rejects(loadModel(path.join(dir, 'missing.onnx'), { providers: ['cpu'] }), /does not exist/);
  const text = path.join(dir, 'text.onnx');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(text, 'this is not a model\n');
  await t.rejects(loadModel(text, { providers: ['cpu'] }), ModelLoadError);
  const truncated = path.join(dir, 'truncated.onnx');
  await writeFile(truncated, (await readFile(YOLOV8N)).subarray(0, 100_000));
  await t.rejects(loadModel(truncated, { providers: ['cpu'] }), ModelLoadError);
  await t.rejects(
    loadModel(YOLOV8N, { providers: ['cpu'], expectedSha256: '0'.repeat(64) }),
    /has sha256 8c6f0ca5.*but MODEL_SHA256 pins 0000/,
  );
});

t.test('EXIF orientation is honoured', async (t) => {
  const dir = await scratchDir(t, 'kyolo-exif-');
  // bus.jpg stored rotated 90° clockwise with an EXIF tag telling viewers to rotate it back.
  const rotated = await sharp(path.join(IMAGES, 'bus.jpg'))
    .rotate(90)
    .withMetadata({ orientation: 8 })
    .jpeg()
    .toBuffer();
  const { detector } = await detectorFor(t, YOLOV8N, dir);
  const { record } = await detector.detect({
    requestId: 'exif',
    requestSource: 'test',
    time: undefined,
    input: { kind: 'bytes', bytes: rotated, contentType: 'image/jpeg' },
    options: {},
  });
  t.same(record.image, { width: 810, height: 1080 }, 'decoded upright');
  // Re-encoding moves boxes a little; ignoring the tag would give a landscape image and other boxes entirely.
  const strong = BUS.filter((e) => e.confidence > 0.5);
  const unmatched = strong.filter((e) => !record.detections.some((d) => d.label === e.label && iouWith(d, e) > 0.9));
  t.same(unmatched, [], 'the same strong detections as the upright file');
});
