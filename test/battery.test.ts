import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { badCases } from './support/battery.js';
import { listFiles } from './support/contract-suite.js';
import { IMAGES, YOLOV8N } from './support/paths.js';
import { startServer } from './support/server-process.js';
import { scratchDir } from './support/scratch.js';

const MAX_IMAGE_BYTES = 2 * 1024 * 1024;

async function rss(url: string): Promise<number> {
  const text = await (await fetch(url + '/metrics')).text();
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)?.[1]);
}

for (const target of ['function', 'server'] as const) {
  t.test(`${target}: a battery of bad input gets 4xx JSON errors, never a 5xx, and leaves nothing`, async (t) => {
    const work = await scratchDir(t, `kyolo-battery-${target}-`);
    const input = path.join(work, 'input');
    const output = path.join(work, 'output');
    const outside = path.join(work, 'outside');
    await mkdir(path.join(input, 'uploads'), { recursive: true });
    await mkdir(path.join(input, 'a-directory'));
    await mkdir(output);
    await mkdir(outside);
    await copyFile(path.join(IMAGES, 'zidane.jpg'), path.join(input, 'zidane.jpg'));
    await copyFile(path.join(IMAGES, 'bus.jpg'), path.join(outside, 'zidane.jpg'));
    await symlink(path.join(outside, 'zidane.jpg'), path.join(input, 'escape.jpg'));
    await symlink(outside, path.join(input, 'escape-dir'));
    await symlink('loop', path.join(input, 'loop'));
    execFileSync('mkfifo', [path.join(input, 'a-fifo')]);
    try {
      execFileSync('mknod', [path.join(input, 'a-device'), 'c', '1', '3']);
    } catch {
      await symlink('/dev/zero', path.join(input, 'a-device'));
    }
    const server = await startServer(target, {
      env: { MODEL_PATH: YOLOV8N, INPUT_DIR: input, OUTPUT_DIR: output, MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES) },
    });
    t.teardown(() => server.stop('SIGKILL'));

    const cases = await badCases(MAX_IMAGE_BYTES);
    t.ok(cases.length >= 500, `${cases.length} cases`);
    const before = await rss(server.url);
    const failures: string[] = [];
    const codes = new Map<string, number>();
    for (const c of cases) {
      const res = await fetch(server.url + '/', c.init);
      const text = await res.text();
      let body: { error?: unknown; code?: unknown } = {};
      try {
        body = JSON.parse(text);
      } catch {
        // reported below
      }
      const ok =
        res.status >= 400 &&
        res.status < 500 &&
        /^application\/json/.test(res.headers.get('content-type') ?? '') &&
        typeof body.error === 'string' &&
        typeof body.code === 'string' &&
        !res.headers.get('ce-type');
      if (!ok) failures.push(`${c.name}: ${res.status} ${text.slice(0, 160)}`);
      codes.set(`${res.status} ${String(body.code)}`, (codes.get(`${res.status} ${String(body.code)}`) ?? 0) + 1);
    }
    t.same(failures, [], 'every case is a 4xx with a JSON {error, code}');
    t.comment([...codes].map(([k, v]) => `${k}: ${v}`).join(', '));
    const ready = await fetch(server.url + '/health/readiness');
    t.equal(ready.status, 200, 'the server is still up and ready');
    t.same(await listFiles(output), [], 'nothing was written to OUTPUT_DIR');
    const after = await rss(server.url);
    t.ok(
      after - before < 200 * 1024 * 1024,
      `memory stays bounded: RSS ${Math.round(before / 2 ** 20)} MB → ${Math.round(after / 2 ** 20)} MB`,
    );
    const good = await fetch(server.url + '/', {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'after',
        'ce-source': '/battery',
        'ce-type': 'yolo.detection.requested',
        'content-type': 'application/json',
      },
      body: '{"path":"zidane.jpg"}',
    });
    t.equal(good.status, 200, 'and still detects');
  });
}
