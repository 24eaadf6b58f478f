import { execFile } from 'node:child_process';
import { copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { loadModel, type Model } from '../func/detector/core/model.js';
import type { Detection } from '../func/shared/record.js';
import { IMAGES, ROOT, YOLOV8N, YOLOV8N_FP16 } from './support/paths.js';
import { binaryEvent, startServer } from './support/server-process.js';
import { scratchDir, scratchVolumes } from './support/scratch.js';
import { testDetector } from './support/detector.js';

/**
 * A half=True export (float16 input and output) is served everywhere a model is loaded: in process, by both
 * servers, by the batch CLI and by inspect. ../shared's fp16io model wraps the int8 graph, so its detections must
 * be the float32-interface model's within float16 rounding (../shared/README.md: scores ±0.002, boxes ±0.5 px at
 * 640, so about ±1 px on bus.jpg's 1080 rows).
 */

const run = promisify(execFile);
const CLI = path.join(ROOT, 'dist', 'func', 'cli', 'main.js');

function matches(t: Test, got: Detection[], want: Detection[], where: string): void {
  t.equal(got.length, want.length, `${where}: ${want.length} detections`);
  want.forEach((w, i) => {
    const g = got[i]!;
    const boxError = Math.max(...(['x1', 'y1', 'x2', 'y2'] as const).map((k) => Math.abs(g.box[k] - w.box[k])));
    t.ok(
      g.label === w.label && Math.abs(g.confidence - w.confidence) <= 0.005 && boxError <= 1.5,
      `${where}: ${w.label} ${w.confidence} ≈ ${g.label} ${g.confidence}, box within ${boxError.toFixed(2)} px`,
    );
  });
}

let reference: Detection[];

/** bus.jpg through the whole pipeline, in process, nothing written. */
function busDetections(model: Model) {
  return testDetector(model, '/nonexistent').analyse({ kind: 'path', path: 'bus.jpg' }, { annotate: false });
}

t.before(async () => {
  const m = await loadModel(YOLOV8N, { providers: ['cpu'] });
  reference = (await busDetections(m)).detections;
  await m.release();
});

t.test('in process: float16 in and out, the same detections', async (t) => {
  const m = await loadModel(YOLOV8N_FP16, { providers: ['cpu'] });
  t.teardown(() => m.release());
  t.match(m.info, { inputType: 'float16', outputType: 'float16', inputSize: [640, 640], layout: 'v8' });
  const got = await busDetections(m);
  t.ok(reference.length >= 4, `the reference finds ${reference.length}`);
  matches(t, got.detections, reference, 'in process');
});

for (const target of ['function', 'server'] as const) {
  t.test(`${target}: serves the float16 model`, async (t) => {
    const { output } = await scratchVolumes(t, `kyolo-fp16-${target}-`);
    const server = await startServer(target, {
      env: { MODEL_PATH: YOLOV8N_FP16, INPUT_DIR: IMAGES, OUTPUT_DIR: output },
    });
    t.teardown(() => server.stop('SIGKILL'));
    const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
    const res = await fetch(server.url + '/', binaryEvent('fp16', bus, 'image/jpeg'));
    t.equal(res.status, 200);
    const record = (await res.json()) as { detections: Detection[]; model: { name: string } };
    t.equal(record.model.name, 'yolov8n-coco-fp16io-640');
    matches(t, record.detections, reference, target);
  });
}

t.test('the batch CLI and inspect take it', async (t) => {
  const work = await scratchDir(t, 'kyolo-fp16-cli-');
  await copyFile(path.join(IMAGES, 'bus.jpg'), path.join(work, 'bus.jpg'));
  const out = path.join(work, 'out');
  await run(process.execPath, [CLI, 'detect', path.join(work, 'bus.jpg'), '--out', out, '--model', YOLOV8N_FP16]);
  const record = JSON.parse(await readFile(path.join(out, 'bus.jpg.json'), 'utf8')) as { detections: Detection[] };
  matches(t, record.detections, reference, 'batch CLI');

  const { stdout } = await run(process.execPath, [CLI, 'inspect', YOLOV8N_FP16, '--json']);
  const inspection = JSON.parse(stdout) as { input: { type: string }; output: { type: string } };
  t.equal(inspection.input.type, 'float16');
  t.equal(inspection.output.type, 'float16');
});
