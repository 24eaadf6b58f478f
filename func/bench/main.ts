/**
 * `npm run bench`: the cost of the service on top of the model, measured side by side in one run.
 *   1. bare session.run on a ready tensor (the physical limit): latency p50/p90 and throughput;
 *   2. the container server, started as the image starts it: start → ready, start → first reply, end-to-end
 *      latency at concurrency 1 (CloudEvent in, reply out: decode, annotate and the file write included),
 *      throughput at concurrency 1, 2, 4, 8, /health/readiness p99 while saturated, RSS after start and after
 *      BENCH_REQUESTS requests.
 * Prints a table and writes bench-results/bench.json. Settings: BENCH_MODEL, BENCH_IMAGE, BENCH_SAMPLES (40),
 * BENCH_REQUESTS (1000).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { decodeImage } from '../detector/core/decode.js';
import { letterboxGeometry, letterboxInto } from '../detector/core/letterbox.js';
import { loadModel } from '../detector/core/model.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MODEL = process.env.BENCH_MODEL ?? path.join(ROOT, '..', 'shared', 'models', 'yolov8n-coco-int8-640.onnx');
const IMAGE = process.env.BENCH_IMAGE ?? path.join(ROOT, '..', 'shared', 'images', 'bus.jpg');
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 40);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000);

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function bare(image: Buffer): Promise<{ p50: number; p90: number; throughput: number }> {
  const model = await loadModel(MODEL, { providers: ['cpu'] });
  const [h, w] = model.info.inputSize;
  const decoded = await decodeImage(image, { maxPixels: 1e9 });
  const tensor = new Float32Array(3 * h * w);
  await letterboxInto(decoded, letterboxGeometry(decoded.width, decoded.height, w, h), tensor);
  for (let i = 0; i < 5; i++) await model.run(tensor, 1);
  const times: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < SAMPLES; i++) {
    const t = performance.now();
    await model.run(tensor, 1);
    times.push(performance.now() - t);
  }
  const total = performance.now() - t0;
  await model.release();
  return { p50: quantile(times, 0.5), p90: quantile(times, 0.9), throughput: (SAMPLES / total) * 1000 };
}

interface Server {
  url: string;
  pid: number;
  startedAt: number;
  stop(): void;
}

/** Started as the image starts it: the same entry point, and the Dockerfile's MALLOC_ARENA_MAX unless set. */
async function startServer(out: string): Promise<Server> {
  const port = await freePort();
  const startedAt = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'func', 'detector', 'server', 'start.js')], {
    env: {
      MALLOC_ARENA_MAX: '2',
      ...process.env,
      MODEL_PATH: MODEL,
      INPUT_DIR: out,
      OUTPUT_DIR: out,
      PORT: String(port),
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, startedAt, stop: () => child.kill('SIGKILL') };
}

let sequence = 0;
async function detect(url: string, image: Buffer): Promise<number> {
  const t = performance.now();
  const res = await fetch(url + '/', {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': `bench-${sequence++}`,
      'ce-source': '/bench',
      'ce-type': 'yolo.detection.requested',
      'content-type': 'image/jpeg',
    },
    body: new Uint8Array(image),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`request failed: ${res.status}`);
  return performance.now() - t;
}

async function load(
  url: string,
  image: Buffer,
  requests: number,
  concurrency: number,
): Promise<{ seconds: number; latencies: number[] }> {
  let next = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < requests) latencies.push(await detect(url, image));
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies };
}

async function rssMb(url: string): Promise<number> {
  const text = await (await fetch(url + '/metrics')).text();
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)?.[1]) / 2 ** 20;
}

async function main(): Promise<void> {
  const image = await readFile(IMAGE);
  const out = await mkdtemp(path.join(os.tmpdir(), 'knative-yolo-bench-'));
  const result: Record<string, unknown> = {
    model: path.basename(MODEL),
    image: path.basename(IMAGE),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    samples: SAMPLES,
    settings: Object.fromEntries(
      ['INFERENCE_THREADS', 'IMAGE_THREADS', 'MAX_BATCH', 'MAX_BATCH_DELAY_MS', 'MALLOC_ARENA_MAX'].map((k) => [
        k,
        process.env[k] ?? (k === 'MALLOC_ARENA_MAX' ? '2' : ''),
      ]),
    ),
  };
  process.stderr.write('bare session.run…\n');
  const b = await bare(image);
  result.bare = { p50Ms: round(b.p50), p90Ms: round(b.p90), throughputPerS: round(b.throughput, 2) };

  process.stderr.write('starting the server…\n');
  const server = await startServer(out);
  let readyMs = 0;
  for (;;) {
    try {
      if ((await fetch(server.url + '/health/readiness')).ok) {
        readyMs = performance.now() - server.startedAt;
        break;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await detect(server.url, image);
  const firstReplyMs = performance.now() - server.startedAt;
  const rssStart = await rssMb(server.url);
  try {
    // The first replies pay for JIT and allocator warm-up; start → first reply above already counts them.
    await load(server.url, image, 10, 1);
    process.stderr.write('end-to-end latency…\n');
    const c1 = await load(server.url, image, SAMPLES, 1);
    const e2e = { p50Ms: round(quantile(c1.latencies, 0.5)), p90Ms: round(quantile(c1.latencies, 0.9)) };
    const throughput: Record<string, number> = {};
    for (const c of [1, 2, 4, 8]) {
      process.stderr.write(`throughput at concurrency ${c}…\n`);
      const r = await load(server.url, image, Math.max(SAMPLES, c * 8), c);
      throughput[c] = round(r.latencies.length / r.seconds, 2);
    }
    process.stderr.write('readiness while saturated…\n');
    const probes: number[] = [];
    let saturated = true;
    const probing = (async () => {
      while (saturated) {
        const t = performance.now();
        await fetch(server.url + '/health/readiness').then((r) => r.arrayBuffer());
        probes.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await load(server.url, image, Math.max(SAMPLES, 64), 8);
    saturated = false;
    await probing;
    process.stderr.write(`${REQUESTS} requests for memory…\n`);
    await load(server.url, image, REQUESTS, 4);
    const rssEnd = await rssMb(server.url);
    Object.assign(result, {
      e2e: { ...e2e, ratioToBareP50: round(e2e.p50Ms / b.p50, 2) },
      throughputPerS: throughput,
      throughputRatioToBare: Object.fromEntries(
        Object.entries(throughput).map(([c, v]) => [c, round(v / b.throughput, 2)]),
      ),
      readinessWhileSaturatedMs: {
        p50: round(quantile(probes, 0.5)),
        p99: round(quantile(probes, 0.99)),
        samples: probes.length,
      },
      startToReadyMs: round(readyMs),
      startToFirstReplyMs: round(firstReplyMs),
      rssMb: {
        afterStart: round(rssStart),
        [`after${REQUESTS}Requests`]: round(rssEnd),
        growthPct: round(((rssEnd - rssStart) / rssStart) * 100),
      },
    });
  } finally {
    server.stop();
    await rm(out, { recursive: true, force: true });
  }
  const r = result as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const rows: [string, string][] = [
    ['machine', r.machine],
    ['model / image', `${r.model} / ${r.image}`],
    [
      'server settings',
      Object.entries(r.settings as Record<string, string>)
        .map(([k, v]) => `${k}=${v || '(default)'}`)
        .join(' '),
    ],
    ['bare session.run p50 / p90', `${r.bare.p50Ms} / ${r.bare.p90Ms} ms`],
    ['end-to-end p50 / p90 (c=1)', `${r.e2e.p50Ms} / ${r.e2e.p90Ms} ms`],
    ['end-to-end p50 / bare p50', `${r.e2e.ratioToBareP50}`],
    ['bare throughput', `${r.bare.throughputPerS} /s`],
    ...[1, 2, 4, 8].map(
      (c) =>
        [`throughput c=${c} (ratio to bare)`, `${r.throughputPerS[c]} /s (${r.throughputRatioToBare[c]})`] as [
          string,
          string,
        ],
    ),
    [
      'readiness p50 / p99 while saturated',
      `${r.readinessWhileSaturatedMs.p50} / ${r.readinessWhileSaturatedMs.p99} ms`,
    ],
    ['start → ready', `${r.startToReadyMs} ms`],
    ['start → first reply', `${r.startToFirstReplyMs} ms`],
    [
      `RSS after start → after ${REQUESTS} requests`,
      `${r.rssMb.afterStart} → ${r.rssMb[`after${REQUESTS}Requests`]} MB (${r.rssMb.growthPct}%)`,
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v} |`).join('\n') + '\n');
  await mkdir(path.join(ROOT, 'bench-results'), { recursive: true });
  await writeFile(path.join(ROOT, 'bench-results', 'bench.json'), JSON.stringify(result, null, 2) + '\n');
  process.stderr.write('wrote bench-results/bench.json\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
