import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import AjvDraft04 from 'ajv-draft-04';
import t from 'tap';
import { parse } from 'yaml';
import { CONFIG_VARIABLES } from '../func/detector/service/config.js';
import { imageAllocatorEnv, imageEnv, isAllocatorVariable } from '../func/bench/image-env.js';
import { dockerfileInstructions } from '../func/bench/dockerfile.js';
import { IMAGES, ROOT, SHARED, YOLOV8N } from './support/paths.js';
import { expand, runtimePrunePatterns } from './support/runtime-prune.js';
import { startServer } from './support/server-process.js';

/** func.yaml and the Dockerfile, checked against the real schema and against the code they deploy. */

interface FuncYaml {
  run: { envs: { name: string; value: string }[]; volumes: { path: string; persistentVolumeClaim?: object }[] };
  deploy: {
    healthEndpoints: { liveness: string; readiness: string };
    annotations?: Record<string, string>;
    options: { scale: { min: number; max: number } };
  };
}

t.test('func.yaml is valid against the func CLI schema', async (t) => {
  const schema = JSON.parse(await readFile(path.join(SHARED, 'schemas', 'func_yaml-schema.json'), 'utf8'));
  // A CommonJS package: under nodenext its class is the `default` export of the module object.
  const ajv = new AjvDraft04.default({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  const doc = parse(await readFile(path.join(ROOT, 'func.yaml'), 'utf8'), { schema: 'core' });
  // The func CLI writes `created` as a timestamp string; YAML's core schema keeps it a string too.
  const ok = validate(doc);
  t.ok(ok, `valid: ${ajv.errorsText(validate.errors)}`);

  const broken = { ...doc, deploy: { ...doc.deploy, options: { scale: { min: -1 } } } };
  t.notOk(validate(broken), 'the schema does reject a bad value (min scale -1)');
});

t.test("the image's environment, as the bench and the pod test read it from the Dockerfile", async (t) => {
  const cpu = imageEnv(ROOT, 'cpu');
  t.equal(cpu.EXECUTION_PROVIDERS, 'cpu', 'the CPU variant: its runtime stage');
  t.equal(imageEnv(ROOT, 'gpu').EXECUTION_PROVIDERS, 'cuda,cpu', 'the GPU variant: its runtime stage');
  t.equal(cpu.NODE_ENV, 'production', 'the final stage');
  t.equal(cpu.MALLOC_ARENA_MAX, '2', 'continued lines');
  t.same(
    Object.keys(cpu).filter((k) => !(CONFIG_VARIABLES as readonly string[]).includes(k) && k !== 'NODE_ENV'),
    Object.keys(imageAllocatorEnv(ROOT)),
    'nothing but the service settings, NODE_ENV and the allocator',
  );
});

/**
 * Page faults of a fresh Node process under `env` as it fills a block of `bytes` again and again, each freed
 * before the next: few once glibc reuses the block from its arena, one per 4 KiB page when it maps each afresh.
 * The fewest of rounds 2 to 5 (the first is the process's first block of that size); V8 frees a collected
 * buffer on its own thread unless told not to, and on a busy machine the next round could come first.
 */
function refillFaults(env: Record<string, string>, bytes: number): number {
  const script = `
    const { readFileSync } = require('node:fs');
    const minflt = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[7]);
    const faults = [];
    for (let i = 0; i < 5; i++) {
      const before = minflt();
      new Uint8Array(${bytes}).fill(i + 1);
      faults.push(minflt() - before);
      gc();
    }
    process.stdout.write(String(Math.min(...faults.slice(1))));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--no-concurrent-array-buffer-sweeping', '-e', script], {
    env: { PATH: process.env.PATH, ...env },
  });
  return Number(out.toString());
}

t.test("the image's mmap threshold: a request's blocks come back from the arenas, a photo's go back", async (t) => {
  // glibc reads MALLOC_MMAP_THRESHOLD_ at start (mallopt(3): at most 32 MiB on 64-bit, a larger value is ignored);
  // this runs the machine's glibc (Debian 12's 2.36, as the node:22-bookworm image has) under the image's values.
  const image = imageAllocatorEnv(ROOT);
  const output = refillFaults(image, 2.8e6);
  t.ok(output < 100, `the model's 2.8 MB output, refilled: ${output} faults (reused)`);
  const photo = refillFaults(image, 36e6);
  t.ok(photo > 5000, `a 12 MP decode's 36 MB, refilled: ${photo} faults (mapped afresh, returned on free)`);
  const before = refillFaults({ ...image, MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' }, 2.8e6);
  t.ok(before > 500, `at 128 KiB, as the image had it, the same 2.8 MB faults again: ${before}`);
});

t.test("func.yaml sets only variables the config module reads, and the image's allocator settings", async (t) => {
  const doc = parse(await readFile(path.join(ROOT, 'func.yaml'), 'utf8')) as FuncYaml;
  const names = doc.run.envs.map((e) => e.name);
  const allocator = imageAllocatorEnv(ROOT);
  const known = new Set<string>([...CONFIG_VARIABLES, ...Object.keys(allocator)]);
  t.same(
    names.filter((n) => !known.has(n)),
    [],
    'no unknown variables',
  );
  t.same(
    Object.fromEntries(doc.run.envs.filter((e) => isAllocatorVariable(e.name)).map((e) => [e.name, e.value])),
    allocator,
    "glibc's settings as the Dockerfile sets them",
  );
  t.ok(names.includes('MODEL_PATH'), 'the required MODEL_PATH is set');
  const paths = doc.run.volumes.map((v) => v.path);
  const value = (n: string): string => doc.run.envs.find((e) => e.name === n)!.value;
  t.ok(
    paths.some((p) => value('MODEL_PATH').startsWith(p + '/')),
    'MODEL_PATH is on a mounted volume',
  );
  t.ok(paths.includes(value('INPUT_DIR')), 'INPUT_DIR is a mounted volume');
  t.ok(paths.includes(value('OUTPUT_DIR')), 'OUTPUT_DIR is a mounted volume');
  t.ok(paths.includes('/tmp'), '/tmp is a volume (read-only root filesystem)');
  t.equal(doc.deploy.options.scale.min, 0, 'scales to zero');
});

t.test("func.yaml's health endpoints are served by the function", async (t) => {
  const doc = parse(await readFile(path.join(ROOT, 'func.yaml'), 'utf8')) as FuncYaml;
  const server = await startServer('function', { env: { MODEL_PATH: YOLOV8N, INPUT_DIR: IMAGES, OUTPUT_DIR: '/tmp' } });
  t.teardown(() => server.stop('SIGKILL'));
  for (const probe of [doc.deploy.healthEndpoints.liveness, doc.deploy.healthEndpoints.readiness]) {
    const res = await fetch(server.url + probe);
    t.equal(res.status, 200, `${probe} answers 200 once ready`);
  }
});

t.test('Dockerfile', async (t) => {
  const text = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
  const ins = dockerfileInstructions(ROOT);
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8'));
  const froms = ins.filter(([k]) => k === 'FROM');
  t.ok(froms.length >= 3, 'multi-stage: build, CPU and GPU runtimes');
  const args = new Map(
    ins.filter(([k, a]) => k === 'ARG' && a.includes('=')).map(([, a]) => a.split('=') as [string, string]),
  );
  for (const image of ['NODE_IMAGE', 'CUDA_IMAGE']) {
    const ref = args.get(image);
    t.match(ref, /^[\w./-]+:\d+\.\d+\.\d+[\w.-]*$/, `${image} is pinned to a version tag (${ref})`);
  }
  t.match(args.get('CUDA_IMAGE'), /cuda:12\.[\d.]+-cudnn-runtime/, 'the GPU base is CUDA 12 with cuDNN');
  t.match(args.get('NODE_IMAGE'), /^node:22\./, 'Node 22 LTS');
  t.test("the GPU stage installs the CUDA provider, with a value onnxruntime-node's installer knows", async (t) => {
    // The installer's own parser (script/install-utils.js, parseInstallFlag), run on the Dockerfile's value:
    // cuda12, the value this file once used, falls through to undefined ("not specified").
    const ort = path.join(ROOT, 'node_modules', 'onnxruntime-node');
    const { parseInstallFlag } = createRequire(import.meta.url)(path.join(ort, 'script', 'install-utils.js')) as {
      parseInstallFlag: () => unknown;
    };
    const flagFor = (value: string): unknown => {
      const saved = process.env.ONNXRUNTIME_NODE_INSTALL;
      process.env.ONNXRUNTIME_NODE_INSTALL = value;
      try {
        return parseInstallFlag();
      } finally {
        if (saved === undefined) delete process.env.ONNXRUNTIME_NODE_INSTALL;
        else process.env.ONNXRUNTIME_NODE_INSTALL = saved;
      }
    };
    t.equal(flagFor('cuda12'), undefined, 'cuda12 is not a value the installer knows');
    const used = /ONNXRUNTIME_NODE_INSTALL=(\S+) node script\/install\.js/.exec(text)?.[1];
    t.ok(used, `the GPU stage runs the installer (${used})`);
    t.equal(flagFor(used ?? ''), true, `ONNXRUNTIME_NODE_INSTALL=${used} asks for an install`);

    // The check after it looks where the installer puts the library (script/install.js: bin/napi-v6/<platform>,
    // the files named in install-metadata.js), and fails naming the platform.
    const metadata = createRequire(import.meta.url)(path.join(ort, 'script', 'install-metadata.js')) as {
      manifests: Record<string, Record<string, unknown>>;
    };
    t.ok('./libonnxruntime_providers_cuda.so' in metadata.manifests['linux/x64:cuda12']!, 'the library it checks');
    t.ok(existsSync(path.join(ort, 'bin', 'napi-v6', 'linux', 'x64')), 'the folder layout it checks');
    t.match(text, /lib="bin\/napi-v6\/\$platform\/libonnxruntime_providers_cuda\.so"/);
    t.match(text, /if \[ ! -f "\$lib" \]; then[^]*\$platform[^]*exit 1/, 'a missing library fails the build');
  });
  t.match(text, /ARG VARIANT=gpu/, 'GPU by default, a build argument selects the CPU variant');

  const finalStage = ins.slice(ins.lastIndexOf(froms[froms.length - 1]!));
  const user = finalStage.filter(([k]) => k === 'USER').pop()?.[1];
  t.match(user, /^[1-9]\d*(:\d+)?$/, `the final stage runs as a numeric non-root user (${user})`);
  const cmd = finalStage.filter(([k]) => k === 'CMD').pop()?.[1];
  t.same(JSON.parse(cmd ?? 'null'), pkg.scripts.serve.split(' '), 'CMD runs the serve script, node as PID 1');
  t.ok(
    finalStage.some(([k, a]) => k === 'EXPOSE' && a === '8080'),
    'EXPOSE 8080',
  );
  t.notOk(
    ins.some(([k, a]) => k === 'ADD' && /^https?:/.test(a)),
    'no ADD from a URL',
  );
  t.notMatch(text, /(PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY)\s*=/i, 'no secrets');
  t.notOk(
    ins.some(([k, a]) => (k === 'COPY' || k === 'ADD') && /\.onnx|models?\b/.test(a)),
    'no model copied into the image',
  );

  const ignore = await readFile(path.join(ROOT, '.dockerignore'), 'utf8');
  t.match(ignore, /^\*$/m, '.dockerignore excludes everything by default');
  t.notMatch(ignore, /^!.*(model|\.onnx|shared)/m, 'and lets no model in');
});

t.test("the image's trim of node_modules matches the packages' layout", async (t) => {
  const patterns = runtimePrunePatterns('x64');
  t.ok(patterns.length >= 6, `${patterns.length} paths: ${patterns.join(' ')}`);
  // Each path must name something that exists, or an upgrade that moved it would silently keep it in the image.
  for (const p of patterns) t.ok(expand(ROOT, p).length > 0, `${p} exists in the installed packages`);
  t.same(
    patterns.filter((p) => p.includes('onnxruntime-node/bin')),
    [
      'node_modules/onnxruntime-node/bin/napi-v6/darwin',
      'node_modules/onnxruntime-node/bin/napi-v6/win32',
      'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64',
    ],
    'on x64 everything but linux/x64 goes',
  );
  t.ok(runtimePrunePatterns('arm64').includes('node_modules/onnxruntime-node/bin/napi-v6/linux/x64'), 'and on arm64');
  // What Linux loads is never in the list: the binding of the build platform, better-sqlite3's addon, and the
  // CommonJS builds Node resolves (package.json "main" / the "default" export condition).
  for (const kept of [
    'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
    'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
    'node_modules/@opentelemetry/api/build/src/index.js',
    'node_modules/@opentelemetry/sdk-trace-node/build/src/index.js',
  ]) {
    t.ok(existsSync(path.join(ROOT, kept)), `${kept} is installed`);
    t.notOk(
      patterns.some((p) => new RegExp(`^${p.replace(/\*/g, '[^/]+')}(/|$)`).test(kept)),
      `${kept} is kept`,
    );
  }
});
