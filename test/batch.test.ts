import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import t from 'tap';
import { parse } from 'yaml';
import { listFiles } from './support/contract-suite.js';
import { COCO128, IMAGES, ROOT, YOLOV8N } from './support/paths.js';
import { scratchDir } from './support/scratch.js';

const run = promisify(execFile);
const CLI = path.join(ROOT, 'dist', 'func', 'cli', 'main.js');
const COCO_IMAGES = path.join(COCO128, 'images');

async function detect(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'detect', '--model', YOLOV8N, ...args], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

t.test(
  'detect over coco128: 128 annotated images, 128 JSON records and a summary; a second run skips them all',
  async (t) => {
    const out = await scratchDir(t, 'kyolo-batch-');
    const first = await detect(COCO_IMAGES, '--out', out, '--concurrency', '2');
    t.equal(first.code, 0, first.stderr.slice(-500));
    t.match(first.stdout, /^128 images: 128 done, 0 skipped, 0 failed;/);
    t.match(first.stderr, /^\[1\/128\] \S+\.jpg: \d+ detections/m, 'plain progress lines when not on a terminal');
    const files = await listFiles(out);
    const images = files.filter((f) => f.endsWith('.jpg'));
    const records = files.filter((f) => f.endsWith('.jpg.json'));
    t.equal(images.length, 128, '128 annotated images');
    t.equal(records.length, 128, '128 JSON records');
    const meta = await sharp(path.join(out, images[0]!)).metadata();
    const source = await sharp(path.join(COCO_IMAGES, images[0]!)).metadata();
    t.same([meta.format, meta.width, meta.height], ['jpeg', source.width, source.height], 'annotated at full size');
    const record = JSON.parse(await readFile(path.join(out, records[0]!), 'utf8'));
    t.match(record, {
      input: { path: images[0] },
      output: { image: images[0], json: records[0] },
      model: { classes: 80 },
    });
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8'));
    t.match(summary.totals, { images: 128, done: 128, failed: 0, skipped: 0 });
    t.equal(
      summary.totals.detections,
      summary.items.reduce((n: number, i: { detections: number }) => n + i.detections, 0),
    );
    const csv = (await readFile(path.join(out, 'summary.csv'), 'utf8')).trim().split('\n');
    t.equal(csv[0], 'file,status,detections,labels,ms,error');
    t.equal(csv.length, 129, 'one CSV row per image');
    t.ok(
      csv.some((row) => /^000000000009\.jpg,done,\d+,[a-z ]+=\d/.test(row)),
      'detections per label in the CSV',
    );

    const mtime = (await stat(path.join(out, records[0]!))).mtimeMs;
    const second = await detect(COCO_IMAGES, '--out', out);
    t.equal(second.code, 0);
    t.match(second.stdout, /^128 images: 0 done, 128 skipped, 0 failed;/, 'the second run skips every image');
    t.equal((await stat(path.join(out, records[0]!))).mtimeMs, mtime, 'and rewrites nothing');
  },
);

t.test('a corrupt image is reported, the others are done, non-images are skipped with a warning', async (t) => {
  const dir = await scratchDir(t, 'kyolo-batch-mixed-');
  const input = path.join(dir, 'in');
  await mkdir(path.join(input, 'sub'), { recursive: true });
  await copyFile(path.join(IMAGES, 'bus.jpg'), path.join(input, 'bus.jpg'));
  await writeFile(path.join(input, 'sub', 'zidane.png'), await sharp(path.join(IMAGES, 'zidane.jpg')).png().toBuffer());
  await writeFile(path.join(input, 'broken.jpg'), (await readFile(path.join(IMAGES, 'bus.jpg'))).subarray(0, 4000));
  await writeFile(path.join(input, 'notes.txt'), 'not an image\n');
  const out = path.join(dir, 'out');
  const res = await detect(input, '--out', out, '--classes', 'person,bus');
  t.equal(res.code, 1, 'exit 1 when an image failed');
  t.match(res.stdout, /^3 images: 2 done, 0 skipped, 1 failed; 1 other files skipped;/);
  t.match(res.stderr, /failed: broken\.jpg: The data is not an image/);
  t.match(res.stderr, /notes\.txt: skipped: not an image/);
  const files = await listFiles(out);
  t.same(files, ['bus.jpg', 'bus.jpg.json', 'sub/zidane.png', 'sub/zidane.png.json', 'summary.csv', 'summary.json']);
  const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8'));
  t.same(summary.failed, [
    { file: 'broken.jpg', error: 'The data is not an image in a format this service can decode.' },
  ]);
  const zidane = JSON.parse(await readFile(path.join(out, 'sub', 'zidane.png.json'), 'utf8'));
  t.ok(
    zidane.detections.every((d: { label: string }) => d.label === 'person'),
    '--classes applies',
  );

  const bad = await detect(input, '--out', out, '--conf', '2');
  t.equal(bad.code, 2, 'a bad option is a usage error');
  t.match(bad.stderr, /Option "conf" must be a number from 0 to 1/);
});

t.test('two index shards together cover every image exactly once', async (t) => {
  const dir = await scratchDir(t, 'kyolo-batch-shards-');
  const input = path.join(dir, 'in');
  await mkdir(input);
  const names = (await readdir(COCO_IMAGES)).sort().slice(0, 7);
  for (const n of names) await copyFile(path.join(COCO_IMAGES, n), path.join(input, n));
  const out = path.join(dir, 'out');
  const shards = await Promise.all(
    [0, 1].map((i) => detect(input, '--out', out, '--shard-index', String(i), '--shard-count', '2')),
  );
  t.same(
    shards.map((s) => s.code),
    [0, 0],
  );
  const done = await Promise.all(
    [0, 1].map(async (i) => {
      const s = JSON.parse(await readFile(path.join(out, `summary-${i}-of-2.json`), 'utf8'));
      return s.items.map((item: { file: string }) => item.file) as string[];
    }),
  );
  t.same(
    done.map((d) => d.length),
    [4, 3],
    'round-robin: 4 and 3 of 7',
  );
  t.same([...done[0]!, ...done[1]!].sort(), names, 'together they are every image');
  t.same(
    done[0]!.filter((f) => done[1]!.includes(f)),
    [],
    'and none twice',
  );
  t.equal((await listFiles(out)).filter((f) => f.endsWith('.jpg.json')).length, 7);
  const usage = await detect(input, '--out', out, '--shard-index', '2', '--shard-count', '2');
  t.equal(usage.code, 2, 'an index outside the count is a usage error');
});

t.test('the batch Job manifest', async (t) => {
  const job = parse(await readFile(path.join(ROOT, 'k8s', 'jobs', 'batch-detect.yaml'), 'utf8'));
  const spec = job.spec;
  const pod = spec.template.spec;
  const container = pod.containers[0];
  t.equal(job.kind, 'Job');
  t.equal(spec.completionMode, 'Indexed');
  t.equal(spec.parallelism, spec.completions, 'one pod per shard at once');
  t.ok(spec.backoffLimit >= 1, 'a backoffLimit');
  t.equal(pod.restartPolicy, 'Never');
  const args: string[] = container.args;
  t.equal(args[args.indexOf('--shard-count') + 1], String(spec.completions), '--shard-count equals completions');
  t.equal(args[args.indexOf('--shard-index') + 1], '$(JOB_COMPLETION_INDEX)', 'each pod takes its own index');
  t.same(container.command, ['node', 'dist/func/cli/main.js'], 'the CLI of the image');
  const mounts = Object.fromEntries(container.volumeMounts.map((m: { name: string }) => [m.name, m]));
  const volumes = Object.fromEntries(pod.volumes.map((v: { name: string }) => [v.name, v]));
  for (const name of ['models', 'input']) {
    t.equal(mounts[name].readOnly, true, `${name} mount is read-only`);
    t.equal(volumes[name].persistentVolumeClaim.readOnly, true, `${name} volume is read-only`);
  }
  t.notOk(mounts.outputs.readOnly, 'outputs is writable');
  t.match(
    args[args.indexOf('--out') + 1],
    new RegExp(`^${mounts.outputs.mountPath}/`),
    '--out is on the outputs volume',
  );
  t.equal(args[1], mounts.input.mountPath, 'the input folder is the input volume');
  t.ok(
    container.env.some(
      (e: { name: string; value: string }) =>
        e.name === 'MODEL_PATH' && e.value.startsWith(mounts.models.mountPath + '/'),
    ),
    'MODEL_PATH is on the models volume',
  );
  t.match(container.securityContext, {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  });
  t.match(pod.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
});
