import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { lowerOtherThreads } from '../func/detector/service/thread-priority.js';
import { IMAGES, ROOT, YOLOV8N } from './support/paths.js';
import { scratchVolumes } from './support/scratch.js';
import { threadsOf, type OsThread } from './support/proc-threads.js';
import { binaryEvent, startServer } from './support/server-process.js';

/** OTHER_THREADS_NICE: inference keeps the cores; the HTTP thread, libuv's pool and libvips take what it leaves. */

async function busyServer(t: Test, env: Record<string, string>): Promise<OsThread[]> {
  const { input, output } = await scratchVolumes(t, 'kyolo-nice-');
  const server = await startServer('server', {
    env: { MODEL_PATH: YOLOV8N, INPUT_DIR: input, OUTPUT_DIR: output, ...env },
  });
  t.teardown(() => server.stop('SIGKILL'));
  const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
  // Eight at a time, so that libvips has started its workers and inference has spent the most CPU.
  for (let round = 0; round < 2; round++) {
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        fetch(server.url + '/', binaryEvent(`nice-${round}-${i}`, bus, 'image/jpeg')),
      ),
    );
    t.same(new Set(replies.map((r) => r.status)), new Set([200]), `round ${round}: every request detected`);
  }
  return threadsOf(server.child.pid!);
}

t.test('by default every thread but the inference ones runs at nice 19', async (t) => {
  const threads = await busyServer(t, {});
  // The main thread's id is the process's, the lowest of its threads.
  const main = threads.find((th) => th.id === Math.min(...threads.map((x) => x.id)));
  t.equal(main?.nice, 19, 'the main thread (HTTP, pre- and postprocessing)');
  const vips = threads.filter((th) => th.name === 'libvips worker');
  t.ok(vips.length > 0, 'libvips started its workers');
  t.same(new Set(vips.map((th) => th.nice)), new Set([19]), 'libvips workers, started after the lowering, inherit it');
  const first = [...threads].sort((a, b) => b.cpuTicks - a.cpuTicks)[0]!;
  t.equal(first.nice, 0, 'the thread with the most CPU, the one that calls session.run, keeps nice 0');
  const kept = threads.filter((th) => th.nice === 0);
  // The worker thread and onnxruntime's intra-op pool (one thread fewer than its threads): never more than the cores.
  t.ok(kept.length <= 1 + availableParallelism(), `${kept.length} threads kept: the worker and onnxruntime's pool`);
  t.ok(
    kept.every((th) => th.name !== 'libvips worker'),
    'no codec thread keeps nice 0',
  );
});

t.test('OTHER_THREADS_NICE=0 leaves every thread at one priority', async (t) => {
  const threads = await busyServer(t, { OTHER_THREADS_NICE: '0' });
  t.same(new Set(threads.map((th) => th.nice)), new Set([0]));
});

t.test('nothing is lowered when the setting is 0 or the inference threads are unknown', async (t) => {
  t.equal(lowerOtherThreads([1], 0), 'OTHER_THREADS_NICE is 0');
  t.equal(lowerOtherThreads([], 19), 'the inference threads are not known here (no /proc)');
});

t.test('a refused setpriority is said, not thrown, and leaves the threads as they were', (t) => {
  // Lowering a nice value back needs CAP_SYS_NICE (setpriority(2), EACCES): a process at nice 10 that asks for 5
  // is refused for every thread, as a pod would be that a sandbox started above the setting. As root, setpriv
  // drops the privilege first, as the image's uid 10001 has none.
  const compiled = path.join(ROOT, 'dist', 'func', 'detector', 'service', 'thread-priority.js');
  const script =
    `const { lowerOtherThreads } = await import(${JSON.stringify(compiled)});` +
    'const said = lowerOtherThreads([-1], 5);' +
    "const nice = (await import('node:os')).getPriority();" +
    'console.log(JSON.stringify({ said, nice }));';
  const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=10001', '--regid=10001', '--clear-groups'] : [];
  const child = spawnSync('nice', ['-n', '10', ...asUser, process.execPath, '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  t.equal(child.status, 0, child.stderr);
  t.same(JSON.parse(child.stdout), { said: 'setpriority refused: EACCES', nice: 10 });
  t.end();
});
