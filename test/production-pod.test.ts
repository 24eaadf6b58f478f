import { execFileSync } from 'node:child_process';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { imageEnv } from '../func/bench/image-env.js';
import { IMAGES, MODELS, ROOT } from './support/paths.js';
import { descendantsOf, threadsOf } from './support/proc-threads.js';
import { runtimeTree } from './support/runtime-prune.js';
import { binaryEvent, pathEvent, startServer, type Target } from './support/server-process.js';

/**
 * The production build, run as the pod runs it: dev dependencies pruned as the Dockerfile prunes them, a
 * read-only root filesystem, uid 10001, the models and input volumes read-only, only the output volume and /tmp
 * writable. bubblewrap builds that file system view (the mount points /opt, /mnt and /srv exist on the read-only
 * root); setpriv then drops to uid 10001 for real, so file ownership means what it means on a node.
 */

const BWRAP = '/usr/bin/bwrap';
const UID = 10001;
const available = await stat(BWRAP).then(
  () => true,
  () => false,
);
if (!available && process.env.CI) throw new Error('bubblewrap is missing: .ci/run installs it');

/**
 * The app as the image has it: package files, the build, and node_modules after `npm prune --omit=dev` and the
 * Dockerfile's trim of what Linux never loads.
 */
async function productionTree(dir: string): Promise<string> {
  const app = path.join(dir, 'app');
  await mkdir(app);
  runtimeTree(app);
  await cp(path.join(ROOT, 'dist'), path.join(app, 'dist'), { recursive: true });
  return app;
}

function sandbox(
  app: string,
  input: string,
  output: string,
  models: [string, string] = ['--ro-bind', MODELS],
): string[] {
  return [
    BWRAP,
    ...['--ro-bind', '/', '/', '--tmpfs', '/tmp', '--proc', '/proc', '--dev', '/dev'],
    ...[models[0], models[1], '/opt', '--ro-bind', input, '/mnt', '--bind', output, '/srv'],
    // A PID namespace of its own: when the test kills bwrap, the kernel ends everything inside with it.
    ...[
      '--unshare-pid',
      '--chdir',
      app,
      '--die-with-parent',
      '--',
      'setpriv',
      `--reuid=${UID}`,
      `--regid=${UID}`,
      '--clear-groups',
    ],
  ];
}

/** A scratch folder outside /tmp, which the sandbox replaces with an empty tmpfs. */
async function scratchDir(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join('/var/tmp', prefix));
  await chmod(dir, 0o755); // mkdtemp's 0700 would keep uid 10001 out of the whole tree
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The image's environment (its Dockerfile's ENV, the CPU variant), with this sandbox's paths. */
const POD_ENV = {
  ...imageEnv(ROOT),
  MODEL_PATH: '/opt/yolov8n-coco-int8-640.onnx',
  INPUT_DIR: '/mnt',
  OUTPUT_DIR: '/srv',
  LOG_LEVEL: 'info',
};

/** What package.json's scripts run: `npm start` for func, `npm run serve` (the image's CMD) for the server. */
async function entryOf(target: Target): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  return pkg.scripts[target === 'function' ? 'start' : 'serve']!.replace(/^node /, '');
}

t.test('the pruned build runs as the pod runs it', { skip: !available && 'bubblewrap is not installed' }, async (t) => {
  const work = await scratchDir(t, 'kyolo-pod-');
  const app = await productionTree(work);
  t.notOk(
    await stat(path.join(app, 'node_modules', 'typescript')).catch(() => undefined),
    'dev dependencies are pruned',
  );
  const bytes = Number(
    execFileSync('du', ['-sb', path.join(app, 'node_modules')], { encoding: 'utf8' }).split('\t')[0],
  );
  t.comment(`runtime node_modules: ${(bytes / 2 ** 20).toFixed(1)} MiB`);
  const input = path.join(work, 'input');
  await mkdir(input);
  await copyFile(path.join(IMAGES, 'bus.jpg'), path.join(input, 'bus.jpg'));

  for (const target of ['function', 'server'] as const) {
    t.test(target, async (t) => {
      const output = path.join(work, `output-${target}`);
      await mkdir(output);
      await chmod(output, 0o777);
      const server = await startServer(target, {
        env: POD_ENV,
        wrap: { prefix: sandbox(app, input, output), entry: await entryOf(target), cwd: app },
        timeoutMs: 60_000,
      });
      t.teardown(() => server.stop('SIGKILL'));
      const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
      const binary = await fetch(server.url + '/', binaryEvent(`${target}-binary`, bus, 'image/jpeg'));
      t.equal(binary.status, 200, 'a binary CloudEvent');
      const byPath = await fetch(server.url + '/', pathEvent(`${target}-path`, { path: 'bus.jpg' }));
      t.equal(byPath.status, 200, 'a path CloudEvent on the read-only input volume');
      const record = (await byPath.json()) as { output: { json: string; image: string } };
      const written = await stat(path.join(output, record.output.json));
      t.equal(written.uid, UID, 'the files are written as uid 10001');
      t.notMatch(server.output(), /model volume is writable/, 'the read-only model volume is seen as such');
      t.notMatch(server.output(), /EROFS|EACCES|read-only file system/i, 'nothing tried to write elsewhere');
      // Inference first (OTHER_THREADS_NICE, 19 by default) as uid 10001 with no capability: raising a nice value
      // needs none (setpriority(2)), so the lowering holds in the pod, and nothing refused it.
      const [node] = (await descendantsOf(server.child.pid!)).filter((p) => p.uid === UID && p.name === 'node');
      t.ok(node, 'the server runs as uid 10001');
      const threads = node ? await threadsOf(node.pid) : [];
      t.equal(threads.find((th) => th.id === node?.pid)?.nice, 19, 'its main thread runs at nice 19');
      t.ok(
        threads.some((th) => th.nice === 0),
        'its inference threads keep nice 0',
      );
      t.notMatch(server.output(), /setpriority refused/, 'nothing refused the lowering');

      if (target !== 'server') return;
      // The logging service shares the image: its SQLite addon must survive the trim.
      const logs = path.join(work, 'logs');
      await mkdir(logs);
      await chmod(logs, 0o777);
      const logging = await startServer('logging', {
        env: { DATABASE_PATH: '/srv/detections.db', LOG_LEVEL: 'info' },
        wrap: { prefix: sandbox(app, input, logs), entry: 'dist/func/logging/start.js', cwd: app },
        timeoutMs: 60_000,
      });
      t.teardown(() => logging.stop('SIGKILL'));
      const headers: Record<string, string> = {};
      binary.headers.forEach((v, k) => {
        if (k.startsWith('ce-') || k === 'content-type') headers[k] = v;
      });
      const stored = await fetch(logging.url + '/', { method: 'POST', headers, body: await binary.text() });
      t.equal(stored.status, 202, 'the logging service stores the reply in SQLite');
    });
  }

  t.test('a writable model volume (what func deploy mounts) is served, with a warning', async (t) => {
    const models = path.join(work, 'models');
    await mkdir(models);
    await chmod(models, 0o777);
    await copyFile(path.join(MODELS, 'yolov8n-coco-int8-640.onnx'), path.join(models, 'yolov8n-coco-int8-640.onnx'));
    const output = path.join(work, 'output-writable-models');
    await mkdir(output);
    await chmod(output, 0o777);
    const server = await startServer('function', {
      env: POD_ENV,
      wrap: { prefix: sandbox(app, input, output, ['--bind', models]), entry: await entryOf('function'), cwd: app },
      timeoutMs: 60_000,
    });
    t.teardown(() => server.stop('SIGKILL'));
    t.ok(await server.waitForOutput(/model volume is writable by this process/), 'the warning names it');
    const res = await fetch(server.url + '/', pathEvent('writable-models', { path: 'bus.jpg' }));
    t.equal(res.status, 200);
  });
});

/**
 * A hostPath PV of type DirectoryOrCreate makes a root-owned 0755 folder, and fsGroup does not apply to hostPath:
 * uid 10001 cannot write it. The minikube walkthrough prepares the folders first; its command, taken from the
 * docs, is run here on a folder shaped like the node's, and the pod can write only after it.
 */
t.test(
  'the documented hostPath preparation makes the output folder writable by the pod',
  { skip: !available && 'bubblewrap is not installed' },
  async (t) => {
    const work = await scratchDir(t, 'kyolo-hostpath-');
    const app = await productionTree(work);
    const docs = await readFile(path.join(ROOT, 'docs', 'deploying.md'), 'utf8');
    const prepare = /^minikube ssh -- '(sudo mkdir[^']*\/mnt\/data[^']*)'$/m.exec(docs)?.[1];
    t.ok(prepare, `the walkthrough prepares /mnt/data: ${prepare}`);
    const node = path.join(work, 'node');
    const mnt = path.join(node, 'mnt', 'data');
    // What the kubelet does for DirectoryOrCreate: mkdir as root, mode 0755.
    await mkdir(path.join(mnt, 'output'), { recursive: true, mode: 0o755 });
    await mkdir(path.join(mnt, 'input'), { recursive: true, mode: 0o755 });
    await copyFile(path.join(IMAGES, 'bus.jpg'), path.join(mnt, 'input', 'bus.jpg'));

    const run = async (label: string): Promise<number> => {
      const server = await startServer('server', {
        env: POD_ENV,
        wrap: {
          prefix: sandbox(app, path.join(mnt, 'input'), path.join(mnt, 'output')),
          entry: await entryOf('server'),
          cwd: app,
        },
        timeoutMs: 60_000,
      });
      try {
        const res = await fetch(server.url + '/', pathEvent(label, { path: 'bus.jpg' }));
        return res.status;
      } finally {
        await server.stop('SIGKILL');
      }
    };
    t.equal(await run('before'), 503, 'a root-owned 0755 folder: 503, the volume is not writable');
    execFileSync('sh', ['-c', prepare!.replaceAll('sudo ', '').replaceAll('/mnt/data', mnt)]);
    t.equal(await run('after'), 200, 'after the documented command: 200');
  },
);
