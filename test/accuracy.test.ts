import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import sharp from 'sharp';
import { loadModel } from '../func/detector/core/model.js';
import { meanAveragePrecision, parseYoloLabels, type ImageEval } from './support/coco-map.js';
import { COCO128, YOLOV8N } from './support/paths.js';
import { scratchDir } from './support/scratch.js';
import { testDetector } from './support/detector.js';

t.test('yolov8n int8 on coco128: mAP50-95 at conf 0.001', async (t) => {
  const out = await scratchDir(t, 'kyolo-map-');
  const model = await loadModel(YOLOV8N, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const imagesDir = path.join(COCO128, 'images');
  const detector = testDetector(model, out, {
    conf: 0.001,
    inputDir: imagesDir,
    maxImageBytes: 50e6,
    maxImagePixels: 50e6,
  });
  const files = (await readdir(imagesDir)).filter((f) => f.endsWith('.jpg')).sort();
  t.equal(files.length, 128, 'coco128 has 128 images');
  const evals: ImageEval[] = [];
  const sizeMismatches: string[] = [];
  for (const file of files) {
    const { record } = await detector.detect({
      requestId: file,
      requestSource: 'accuracy-test',
      time: new Date(0),
      input: { kind: 'path', path: file },
      options: { annotate: false },
    });
    const meta = await sharp(path.join(imagesDir, file)).metadata();
    const labelFile = path.join(COCO128, 'labels', file.replace(/\.jpg$/, '.txt'));
    const labels = await readFile(labelFile, 'utf8').catch(() => '');
    if (record.image.width !== (meta.autoOrient?.width ?? meta.width)) sizeMismatches.push(file);
    evals.push({
      truths: parseYoloLabels(labels, record.image.width, record.image.height),
      predictions: record.detections.map((d) => ({ classId: d.classId, confidence: d.confidence, ...d.box })),
    });
  }
  t.same(sizeMismatches, [], 'every reply gives the upright image size');
  // Two of the 128 images have no label file (000000000250, 000000000508): 929 boxes in all.
  const truthCount = evals.reduce((n, e) => n + e.truths.length, 0);
  t.equal(truthCount, 929, 'ground truth boxes of the 128 images');
  const result = meanAveragePrecision(evals);
  t.comment(
    `mAP50-95 ${result.map50_95.toFixed(4)}  mAP50 ${result.map50.toFixed(4)}  over ${result.classesEvaluated} classes`,
  );
  t.ok(result.map50_95 >= 0.445, `mAP50-95 ${result.map50_95.toFixed(4)} is at least 0.445`);
  t.ok(result.map50 >= 0.58, `mAP50 ${result.map50.toFixed(4)} is at least 0.58`);
});
