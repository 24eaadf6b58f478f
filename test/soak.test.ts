import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { imageAllocatorEnv } from '../func/bench/image-env.js';
import { COCO128, ROOT, YOLOV8N } from './support/paths.js';
import { binaryEvent, startServer } from './support/server-process.js';
import { scratchDir } from './support/scratch.js';

/**
 * A soak of the container server: SOAK_REQUESTS requests (default 240 here; `npm run soak` runs 2,000) at
 * concurrency 8, over the coco128 images. No request may fail; from the end of the warm-up to the end, RSS may
 * grow by less than 10%, and open files and sockets by at most two each (a leak per request would show as
 * hundreds).
 */
const REQUESTS = Number(process.env.SOAK_REQUESTS ?? 240);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 8);

async function rss(url: string): Promise<number> {
  const text = await (await fetch(url + '/metrics')).text();
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)?.[1]);
}

/** Open descriptors of a process, sockets counted apart: their number follows the client's keep-alive pool. */
async function openFds(pid: number): Promise<{ files: number; sockets: number }> {
  const dir = `/proc/${pid}/fd`;
  const targets = await Promise.all((await readdir(dir)).map((fd) => readlink(path.join(dir, fd)).catch(() => 'gone')));
  const sockets = targets.filter((t) => t.startsWith('socket:')).length;
  return { files: targets.filter((t) => t !== 'gone').length - sockets, sockets };
}

t.test(`soak: ${REQUESTS} requests at concurrency ${CONCURRENCY}`, async (t) => {
  const work = await scratchDir(t, 'kyolo-soak-');
  // glibc's allocator as the image sets it (Dockerfile), so memory is measured as it runs in a pod.
  const server = await startServer('server', {
    env: { MODEL_PATH: YOLOV8N, INPUT_DIR: work, OUTPUT_DIR: work, ...imageAllocatorEnv(ROOT) },
  });
  t.teardown(() => server.stop('SIGKILL'));
  const dir = path.join(COCO128, 'images');
  const images = await Promise.all(
    (await readdir(dir))
      .sort()
      .slice(0, 32)
      .map((f) => readFile(path.join(dir, f))),
  );

  const errors: string[] = [];
  let next = 0;
  const run = async (until: number): Promise<void> => {
    const worker = async (): Promise<void> => {
      for (let i = next++; i < until; i = next++) {
        const res = await fetch(server.url + '/', binaryEvent(`soak-${i}`, images[i % images.length]!, 'image/jpeg'));
        await res.arrayBuffer();
        if (res.status !== 200) errors.push(`#${i}: ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    next = until;
  };
  // Both readings are taken with nothing in flight, so they compare like with like.
  const warmUp = Math.max(CONCURRENCY * 2, Math.floor(REQUESTS / 10));
  const started = Date.now();
  await run(warmUp);
  const warm = { rss: await rss(server.url), fds: await openFds(server.child.pid!) };
  await run(REQUESTS);
  const seconds = (Date.now() - started) / 1000;
  const end = { rss: await rss(server.url), fds: await openFds(server.child.pid!) };
  t.same(errors, [], '0 errors');
  const growth = (end.rss - warm.rss) / warm.rss;
  t.comment(
    `${REQUESTS} requests in ${seconds.toFixed(1)} s (${(REQUESTS / seconds).toFixed(1)}/s); ` +
      `RSS ${(warm.rss / 2 ** 20).toFixed(0)} → ${(end.rss / 2 ** 20).toFixed(0)} MB (${(growth * 100).toFixed(1)}%); ` +
      `files open ${warm.fds.files} → ${end.fds.files}, sockets ${warm.fds.sockets} → ${end.fds.sockets}`,
  );
  t.ok(growth < 0.1, `RSS grows by less than 10% (${(growth * 100).toFixed(1)}%)`);
  // Both readings are idle, with the client's keep-alive pool open: a descriptor or socket leaked per request
  // would show as hundreds, a library opening one lazily as one or two.
  t.ok(end.fds.files - warm.fds.files <= 2, `no file descriptor growth (${warm.fds.files} → ${end.fds.files})`);
  t.ok(end.fds.sockets - warm.fds.sockets <= 2, `no socket growth (${warm.fds.sockets} → ${end.fds.sockets})`);
});
