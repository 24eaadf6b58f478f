import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CONFIG_VARIABLES } from '../detector/service/config.js';
import { imageCommand, imageEnv } from './image-env.js';
import { quantile, timeOf } from './floor.js';

/** The container server as the image starts it, and the requests the bench sends it. */

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface BenchServer {
  url: string;
  pid: number;
  /** Start → ready, in ms. */
  readyMs: number;
  /** What it was started with beyond the run's own settings, for the report: '' for nothing. */
  started: string;
  startedAt: number;
  /** Kills it and resolves once it has exited, so that the next start does not share the cores with its teardown. */
  stop(): Promise<void>;
}

/** A setting's variables as the report names it: `INFERENCE_WORKERS=2 INFERENCE_THREADS=1`. */
export const settingName = (env: Record<string, string>): string =>
  Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

/**
 * Started as the image starts it: its CMD and the image's environment (the Dockerfile's ENV), not the shell's. The
 * service's settings (README table) and the image's variables pass through from the shell, so `INFERENCE_WORKERS=2
 * npm run bench` measures them; nothing else does: a shell's NODE_EXTRA_CA_CERTS, say, costs Node 0.1 s at every
 * start (it parses the CA file at boot), which no pod pays. `started` names `env` in the report, where a variable
 * whose value changes from run to run (an OTLP sink's address) is better named by what it does.
 */
export async function startServer(
  root: string,
  model: string,
  volume: string,
  env: Record<string, string> = {},
  started = settingName(env),
): Promise<BenchServer> {
  const port = await freePort();
  const startedAt = performance.now();
  const image = imageEnv(root);
  const fromShell = [...CONFIG_VARIABLES, ...Object.keys(image)].flatMap((k) => {
    const v = process.env[k];
    return v === undefined ? [] : [[k, v] as const];
  });
  const child = spawn(process.execPath, imageCommand(root), {
    env: {
      PATH: process.env.PATH ?? '',
      ...image,
      ...Object.fromEntries(fromShell),
      // The image's paths (/models, /data) are not on this machine.
      MODEL_PATH: model,
      INPUT_DIR: volume,
      OUTPUT_DIR: path.join(volume, 'out'),
      PORT: String(port),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // A server that exits before it is ready (a bad setting) fails the bench with its own words, not a silent wait.
  let stderr = '';
  let exited: string | undefined;
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const gone = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = `exited (${signal ?? code})`;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (exited) throw new Error(`the server ${exited} before it was ready: ${stderr.trim()}`);
    try {
      if ((await fetch(url + '/health/readiness')).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return {
    url,
    pid: child.pid!,
    readyMs: performance.now() - startedAt,
    started,
    startedAt,
    stop: async () => {
      child.kill('SIGKILL');
      await gone;
    },
  };
}

let sequence = 0;

/** One path CloudEvent, as a Broker delivers it; resolves with its latency in ms. */
export async function detect(url: string, file: string, annotate = true): Promise<number> {
  const t = performance.now();
  const res = await fetch(url + '/', {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': `bench-${sequence++}`,
      'ce-source': '/bench',
      'ce-type': 'yolo.detection.requested',
      'content-type': 'application/json',
    },
    body: JSON.stringify(annotate ? { path: file } : { path: file, annotate: false }),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`request failed: ${res.status}`);
  return performance.now() - t;
}

/** `requests` requests, `concurrency` at a time. */
export async function load(
  url: string,
  file: string,
  requests: number,
  concurrency: number,
  annotate = true,
): Promise<{ seconds: number; latencies: number[] }> {
  let next = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < requests) latencies.push(await detect(url, file, annotate));
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies };
}

const probe = async (url: string): Promise<ArrayBuffer> => (await fetch(url + '/health/readiness')).arrayBuffer();

/** A round trip that does no work: the HTTP stack alone, p50 of `samples` readiness probes. */
export async function roundTripMs(url: string, samples: number): Promise<number> {
  return quantile(await timeOf(samples, () => probe(url)), 0.5);
}

/** The server's CPU time for one such round trip, in ms: enough of them for /proc's 10 ms ticks to resolve it. */
export async function roundTripCpuMs(url: string, pid: number, samples = 500): Promise<number> {
  const cpu0 = await cpuMs(pid);
  for (let i = 0; i < samples; i++) await probe(url);
  return ((await cpuMs(pid)) - cpu0) / samples;
}

export async function rssMb(url: string): Promise<number> {
  const text = await (await fetch(url + '/metrics')).text();
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)?.[1]) / 2 ** 20;
}

/**
 * The fields of a /proc stat file (a process's, or a thread's under task/) after the command name, which may hold
 * spaces and parentheses: field 3 of proc(5) is index 0 here, so utime (14) and stime (15) are 11 and 12, nice (19)
 * is 16.
 */
export async function procStatFields(file: string): Promise<string[]> {
  const stat = await readFile(file, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU time the process has used, all threads, in ms (utime + stime of /proc/<pid>/stat, 100 ticks a second). */
export async function cpuMs(pid: number): Promise<number> {
  const fields = await procStatFields(`/proc/${pid}/stat`);
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
