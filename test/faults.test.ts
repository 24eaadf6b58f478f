import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { listFiles } from './support/contract-suite.js';
import { IMAGES, YOLOV8N } from './support/paths.js';
import { binaryEvent, pathEvent, startServer } from './support/server-process.js';
import { scratchDir } from './support/scratch.js';

/** What happens when the volumes, the model or the process fail: each answer checked against real faults. */

const isRoot = process.getuid?.() === 0;
const canMount =
  isRoot &&
  (() => {
    const dir = path.join(os.tmpdir(), `kyolo-mount-probe-${process.pid}`);
    spawnSync('mkdir', ['-p', dir]);
    const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]).status === 0;
    if (ok) spawnSync('umount', [dir]);
    spawnSync('rmdir', [dir]);
    return ok;
  })();

t.test(
  'a full output volume: 503, no partial file, and it recovers when space returns',
  { skip: !canMount && 'cannot mount a tmpfs here (needs root)' },
  async (t) => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'kyolo-full-'));
    const output = path.join(work, 'output');
    await mkdir(output);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0777', 'tmpfs', output]);
    t.teardown(async () => {
      spawnSync('umount', [output]);
      await rm(work, { recursive: true, force: true });
    });
    // Leave about 200 KB: less than the annotated bus.jpg (about 350 KB) needs.
    await writeFile(path.join(output, 'filler'), Buffer.alloc(800 * 1024));
    const server = await startServer('server', { env: { MODEL_PATH: YOLOV8N, INPUT_DIR: IMAGES, OUTPUT_DIR: output } });
    t.teardown(() => server.stop('SIGKILL'));
    const res = await fetch(server.url + '/', pathEvent('full-1', { path: 'bus.jpg' }));
    t.equal(res.status, 503);
    t.match(await res.json(), { code: 'OUTPUT_UNAVAILABLE', error: /The output volume is full/ });
    t.same(await listFiles(output), ['filler'], 'no partial file, no temp file');
    await rm(path.join(output, 'filler'));
    const again = await fetch(server.url + '/', pathEvent('full-1', { path: 'bus.jpg' }));
    t.equal(again.status, 200, 'the Broker retries, and once there is space it succeeds');
  },
);

t.test('a corrupt or unreadable model: a clear reason at start, readiness false, no stack trace', async (t) => {
  const work = await scratchDir(t, 'kyolo-badmodel-');
  await chmod(work, 0o755);
  const corrupt = path.join(work, 'corrupt.onnx');
  await writeFile(corrupt, (await readFile(YOLOV8N)).subarray(0, 300_000));
  const unreadable = path.join(work, 'unreadable.onnx');
  await copyFile(YOLOV8N, unreadable);
  await chmod(unreadable, 0o000);
  const cases: [string, string, RegExp, object][] = [
    ['function', corrupt, /is not a valid ONNX model/, {}],
    ['server', corrupt, /is not a valid ONNX model/, {}],
    // Root reads anything; the check runs as an unprivileged user, as the container does.
    ['server', unreadable, /is not readable/, isRoot ? { uid: 65534, gid: 65534 } : {}],
  ];
  for (const [target, model, reason, user] of cases) {
    const server = await startServer(target as 'function' | 'server', {
      env: { MODEL_PATH: model, INPUT_DIR: work, OUTPUT_DIR: work },
      waitReady: false,
      ...user,
    });
    let body: { error?: string } = {};
    for (let i = 0; i < 100 && !reason.test(body.error ?? ''); i++) {
      const res = await fetch(server.url + '/health/readiness');
      t.equal(res.status, 503, 'unready');
      body = await res.json();
      if (!reason.test(body.error ?? '')) await new Promise((r) => setTimeout(r, 50));
    }
    t.match(body.error, reason, `${target}, ${path.basename(model)}: ${body.error}`);
    t.ok(await server.waitForOutput(reason), 'the reason is logged');
    t.notMatch(server.output(), /\n\s+at \S+ \(/, 'without a stack trace');
    await server.stop('SIGKILL');
  }
});

t.test(
  'kill -9 in the middle of writes: after a restart no partial file is visible and temp files are gone',
  async (t) => {
    const work = await scratchDir(t, 'kyolo-kill-');
    const output = path.join(work, 'output');
    // A temp file as a killed writer leaves it, next to a completed pair.
    await mkdir(path.join(output, '2026', '01', '02'), { recursive: true });
    await writeFile(path.join(output, '2026', '01', '02', '.old-1.jpg.4242.deadbeef.partial'), 'half a file');
    const env = { MODEL_PATH: YOLOV8N, INPUT_DIR: IMAGES, OUTPUT_DIR: output };
    let server = await startServer('server', { env });
    t.notOk(
      (await listFiles(output)).some((f) => f.endsWith('.partial')),
      'a leftover temp file is removed at start',
    );
    t.ok(await server.waitForOutput(/removed temp files left by an interrupted write/), 'and the sweep is logged');

    // Many large images in flight, then SIGKILL while they are being written.
    const big = await sharp(path.join(IMAGES, 'bus.jpg')).resize(2400).jpeg().toBuffer();
    const inflight = Array.from({ length: 12 }, (_, i) =>
      fetch(server.url + '/', binaryEvent(`kill-${i}`, big, 'image/jpeg')).then(
        (r) => r.status,
        () => 'cut',
      ),
    );
    let written = 0;
    for (let i = 0; i < 400 && written < 2; i++) {
      written = (await listFiles(output)).filter((f) => f.endsWith('.json')).length;
      await new Promise((r) => setTimeout(r, 10));
    }
    await server.stop('SIGKILL');
    const statuses = await Promise.all(inflight);
    t.ok(statuses.includes('cut'), `some requests were cut off by the kill (${statuses.join(' ')})`);

    server = await startServer('server', { env });
    t.teardown(() => server.stop('SIGKILL'));
    const files = await listFiles(output);
    t.same(
      files.filter((f) => f.includes('.partial')),
      [],
      'no temp file survives the restart',
    );
    for (const f of files.filter((f) => f.endsWith('.json'))) {
      const record = JSON.parse(await readFile(path.join(output, f), 'utf8'));
      t.ok(files.includes(record.output.image), `${f}: its image is there too (the JSON is committed last)`);
    }
    for (const f of files.filter((f) => f.endsWith('.jpg'))) {
      await t.resolves(sharp(path.join(output, f), { failOn: 'error' }).raw().toBuffer(), `${f} decodes completely`);
    }
  },
);

t.test('the same event delivered eight times at once: one set of files, the same reply', async (t) => {
  const work = await scratchDir(t, 'kyolo-concurrent-');
  const server = await startServer('server', { env: { MODEL_PATH: YOLOV8N, INPUT_DIR: IMAGES, OUTPUT_DIR: work } });
  t.teardown(() => server.stop('SIGKILL'));
  const replies = await Promise.all(
    Array.from({ length: 8 }, () => fetch(server.url + '/', pathEvent('same-1', { path: 'zidane.jpg' }))),
  );
  t.same(
    replies.map((r) => r.status),
    Array(8).fill(200),
  );
  const ids = new Set(replies.map((r) => r.headers.get('ce-id')));
  t.equal(ids.size, 1, 'one reply id');
  const bodies = await Promise.all(replies.map((r) => r.json()));
  t.equal(
    new Set(bodies.map((b) => JSON.stringify([b.output, b.detections]))).size,
    1,
    'the same outputs and detections',
  );
  const files = await listFiles(work);
  t.equal(files.length, 2, `one image and one JSON (${files.join(', ')})`);
});

t.test('function: SIGTERM lets in-flight requests finish, then exits 0', async (t) => {
  const work = await scratchDir(t, 'kyolo-fn-sigterm-');
  const server = await startServer('function', { env: { MODEL_PATH: YOLOV8N, INPUT_DIR: IMAGES, OUTPUT_DIR: work } });
  t.teardown(() => server.stop('SIGKILL'));
  const big = await sharp(path.join(IMAGES, 'bus.jpg')).resize(3000).jpeg().toBuffer();
  const inflight = [1, 2].map((i) =>
    fetch(server.url + '/', binaryEvent(`fn-term-${i}`, big, 'image/jpeg')).then((r) => r.status),
  );
  for (let i = 0; i < 300; i++) {
    const m = await (await fetch(server.url + '/metrics')).text();
    if (/^yolo_inflight_requests 2$/m.test(m)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const exit = server.stop('SIGTERM');
  t.same(await Promise.all(inflight), [200, 200], 'both in-flight requests complete');
  t.equal(await exit, 0, 'exit 0');
});
