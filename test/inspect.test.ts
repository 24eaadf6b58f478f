import { execFile, spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { identityModel } from './support/onnx-builder.js';
import { IMAGES, MODELS, ROOT, YOLOV8N } from './support/paths.js';
import { pathEvent, startServer } from './support/server-process.js';
import { scratchDir } from './support/scratch.js';
import { BUS, missing } from './support/expected.js';
import type { Detection } from '../func/shared/record.js';

const run = promisify(execFile);
const CLI = path.join(ROOT, 'dist', 'func', 'cli', 'main.js');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

t.test('inspect reports layout, classes, input size and batch of every shared model', async (t) => {
  const expected: Record<string, { size: number; batch: string; output: (number | string)[] }> = {
    'yolov8n-coco-int8-640.onnx': { size: 640, batch: 'static', output: [1, 84, 8400] },
    'yolov8n-coco-int8-640-dynbatch.onnx': { size: 640, batch: 'dynamic', output: ['batch', 84, 8400] },
    'yolo11n-coco-int8-320.onnx': { size: 320, batch: 'static', output: [1, 84, 2100] },
    'yolo11n-coco-int8-192.onnx': { size: 192, batch: 'static', output: [1, 84, 756] },
  };
  const shaTable = await readFile(path.join(MODELS, '..', 'README.md'), 'utf8');
  for (const [file, want] of Object.entries(expected)) {
    const { code, stdout, stderr } = await cli('inspect', path.join(MODELS, file), '--json');
    t.equal(code, 0, `${file}: exit 0 ${stderr}`);
    const r = JSON.parse(stdout);
    t.equal(r.layout, 'v8', `${file}: v8 layout`);
    t.equal(r.classes, 80, `${file}: 80 classes`);
    t.equal(r.names[0], 'person');
    t.same(r.inputSize, [want.size, want.size], `${file}: input ${want.size}`);
    t.equal(r.batch, want.batch, `${file}: ${want.batch} batch`);
    t.same(r.output.shape, want.output);
    t.equal(r.stride, 32);
    t.equal(r.task, 'detect');
    t.ok(r.quantized && r.quantizedOps.includes('ConvInteger'), `${file}: int8 (ConvInteger)`);
    t.ok(shaTable.includes(`| ${file} |`) && shaTable.includes(r.sha256), `${file}: sha256 matches the shared table`);
    t.same(r.providers[0], { name: 'cpu', available: true, opsOffProvider: [] });
    t.equal(r.providers[1].name, 'cuda', 'cuda is probed too');
    t.same(r.providers[1].opsOffProvider, ['ConvInteger'], `${file}: ConvInteger has no CUDA kernel`);
  }
  const table = await cli('inspect', YOLOV8N);
  t.match(table.stdout, /^layout\s+v8: YOLOv8\/11\/12/m, 'the table names the layout');
  t.match(table.stdout, /^batch\s+static \(1\)/m);
  t.match(table.stdout, /^providers\s+cpu: available; cuda: .*, but ConvInteger would run on the CPU$/m);
});

t.test('--self-test runs one image and prints the detections and the time', async (t) => {
  const { code, stdout } = await cli('inspect', YOLOV8N, '--self-test', path.join(IMAGES, 'bus.jpg'), '--json');
  t.equal(code, 0);
  const r = JSON.parse(stdout);
  t.match(r.selfTest, { width: 810, height: 1080 });
  t.type(r.selfTest.inferenceMs, 'number');
  t.ok(r.selfTest.detections.some((d: { label: string }) => d.label === 'bus'));
  t.equal(r.selfTest.detections.length, 5);
});

t.test('files that are not usable detectors are refused with a one-line reason', async (t) => {
  const dir = await scratchDir(t, 'kyolo-inspect-');
  const files: [string, Buffer | string, RegExp][] = [
    ['truncated.onnx', (await readFile(YOLOV8N)).subarray(0, 200_000), /is not a valid ONNX model/],
    ['notes.onnx', 'this is a text file, not a model\n', /is a text file, not an ONNX model/],
    ['vector.onnx', identityModel([1, 4]), /a detector takes one float32 or float16 \[B, 3, H, W\] image tensor/],
    ['image-to-image.onnx', identityModel([1, 3, 8, 8]), /output shape \[1, 3, 8, 8\] is not a detector output/],
    ['segmenter.onnx', identityModel([1, 3, 8, 8], [1, 3, 8, 8], { task: 'segment' }), /the model's task is 'segment'/],
  ];
  for (const [name, data, reason] of files) {
    await writeFile(path.join(dir, name), data);
    const { code, stdout, stderr } = await cli('inspect', path.join(dir, name));
    t.equal(code, 1, `${name}: exit 1`);
    t.equal(stdout, '', `${name}: nothing on stdout`);
    t.match(stderr, reason, `${name}: ${stderr.trim()}`);
    t.equal(stderr.trim().split('\n').length, 1, `${name}: one line`);
  }
  const usage = await cli('inspect');
  t.equal(usage.code, 2, 'a usage error exits 2');
});

for (const target of ['server', 'function'] as const) {
  t.test(`${target}: MODEL_SHA256 pins the model; MODEL_NAME names it`, async (t) => {
    const work = await scratchDir(t, 'kyolo-pin-');
    const env = { MODEL_PATH: YOLOV8N, INPUT_DIR: IMAGES, OUTPUT_DIR: work };
    const wrong = 'ab'.repeat(32);
    const pinnedWrong = await startServer(target, { env: { ...env, MODEL_SHA256: wrong }, waitReady: false });
    t.teardown(() => pinnedWrong.stop('SIGKILL'));
    let body: { error?: string } = {};
    for (let i = 0; i < 100; i++) {
      const res = await fetch(pinnedWrong.url + '/health/readiness');
      body = await res.json();
      t.equal(res.status, 503, 'never ready');
      if (/sha256/.test(body.error ?? '')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    t.match(
      body.error,
      /has sha256 8c6f0ca55e9b86c1[0-9a-f]+, but MODEL_SHA256 pins abab/,
      'the message gives both hashes',
    );
    t.ok(await pinnedWrong.waitForOutput(/MODEL_SHA256 pins/), 'and it is logged');
    await pinnedWrong.stop('SIGKILL');

    const pinned = await startServer(target, {
      env: {
        ...env,
        MODEL_SHA256: '8C6F0CA55E9B86C15FD6788A9EDB78DA087881DF55CB225A64842284B84E250C',
        MODEL_NAME: 'coco-v8n-int8',
      },
    });
    t.teardown(() => pinned.stop('SIGKILL'));
    const res = await fetch(pinned.url + '/', pathEvent('pin-1', { path: 'bus.jpg' }));
    t.equal(res.status, 200, 'the right hash (any case) starts and serves');
    t.equal((await res.json()).model.name, 'coco-v8n-int8', 'MODEL_NAME names the model in replies');
    const metrics = await (await fetch(pinned.url + '/metrics')).text();
    t.match(metrics, /yolo_model_info\{name="coco-v8n-int8"/, 'and in metrics');
  });
}

const PYTHON = process.env.PYTHON ?? 'python3';
const hasPython = spawnSync(PYTHON, ['--version']).status === 0;

t.test(
  'model/export.py parses its arguments without ultralytics installed',
  { skip: !hasPython && `no ${PYTHON} here` },
  async (t) => {
    const script = path.join(ROOT, 'model', 'export.py');
    const help = await run(PYTHON, [script, '--help']);
    t.match(help.stdout, /--imgsz/);
    const bad = await run(PYTHON, [script, 'x.pt', '--imgsz', '300']).catch((e: { code: number; stderr: string }) => e);
    t.equal((bad as { code: number }).code, 2, 'a size that is not a multiple of 32 is refused');
    t.match((bad as { stderr: string }).stderr, /multiple of 32/);
  },
);

/** A Python that can run model/gpu_time.py: `.ci/run` installs Debian's PyTorch, onnx and Pillow where missing. */
const TORCH_PYTHON = [process.env.PYTHON, 'python3', '/usr/bin/python3'].find(
  (p) => p && spawnSync(p, ['-c', 'import torch, onnx, PIL']).status === 0,
);

t.test(
  "model/gpu_time.py's float graph finds what the int8 model finds in bus.jpg",
  { skip: !TORCH_PYTHON && 'no Python with torch, onnx and Pillow here' },
  async (t) => {
    const out = path.join(await scratchDir(t, 'gpu-time-'), 'result.json');
    const script = path.join(ROOT, 'model', 'gpu_time.py');
    const args = [script, YOLOV8N, path.join(IMAGES, 'bus.jpg'), '--device', 'cpu', '--iters', '1', '--warmup', '0'];
    await run(TORCH_PYTHON!, [...args, '--json', out], { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    const result = JSON.parse(await readFile(out, 'utf8'));
    t.same(result.graph.ops.includes('FloatConv') && !result.graph.ops.includes('ConvInteger'), true, 'no int8 left');
    const coco: Record<number, string> = { 0: 'person', 5: 'bus' };
    const rows = result.check.detections_fp16 as { class: number; score: number; box: number[] }[];
    const found: Detection[] = rows.map((d) => ({
      classId: d.class,
      label: coco[d.class] ?? `class${d.class}`,
      confidence: d.score,
      box: { x1: d.box[0]!, y1: d.box[1]!, x2: d.box[2]!, y2: d.box[3]! },
    }));
    t.same(missing(found, BUS), [], "the shared README's detections, within its tolerance");
    t.ok(
      result.runs.every((r: { ms_per_call?: number }) => r.ms_per_call! > 0),
      'every configuration timed',
    );
  },
);
