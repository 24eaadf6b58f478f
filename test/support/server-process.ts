import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { ROOT } from './paths.js';

/** The two ways the service runs; each is the built entry point a user or the image starts. */
export const ENTRIES = {
  function: path.join(ROOT, 'dist', 'func', 'detector', 'function', 'start.js'),
  // The image's CMD: the server bundled (func/build/bundle.ts).
  server: path.join(ROOT, 'dist', 'server', 'start.js'),
  logging: path.join(ROOT, 'dist', 'func', 'logging', 'start.js'),
} as const;

export type Target = keyof typeof ENTRIES;

export interface RunningServer {
  url: string;
  child: ChildProcess;
  /** Everything the process wrote so far, stdout and stderr. */
  output(): string;
  /** Waits (up to 5 s) until the output matches: a log line can arrive after the HTTP reply it explains. */
  waitForOutput(pattern: RegExp): Promise<boolean>;
  /** Sends a signal and resolves with the exit code (or null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  env: Record<string, string>;
  /** Wait for readiness (true) or only for liveness (false: for servers expected to stay unready). */
  waitReady?: boolean;
  uid?: number;
  gid?: number;
  timeoutMs?: number;
  /** Runs `node <entry>` under this command line (a sandbox such as bwrap), from `cwd`, with `entry` instead. */
  wrap?: { prefix: string[]; entry: string; cwd: string };
}

export async function startServer(target: Target, options: StartOptions): Promise<RunningServer> {
  const port = await freePort();
  // tap injects its process-info hook into every child through NODE_OPTIONS; the hook writes under .tap/, which
  // another user cannot (and the model worker thread would fail on it), so a child run as another user goes
  // without it. `env -u` execs node in place: the pid stays the child's.
  const [command, args] = options.wrap
    ? ['/usr/bin/env', ['-u', 'NODE_OPTIONS', ...options.wrap.prefix, process.execPath, options.wrap.entry]]
    : options.uid !== undefined
      ? ['/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, ENTRIES[target]]]
      : [process.execPath, [ENTRIES[target]]];
  const child = spawn(command, args, {
    cwd: options.wrap?.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...options.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid ?? options.uid } : {}),
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const probe = options.waitReady === false ? '/health/liveness' : '/health/readiness';
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${target} exited with ${exitCode} before it was up:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${target} was not up within the time limit:\n${out}`);
    }
    try {
      const res = await fetch(url + probe);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    output: () => out,
    async waitForOutput(pattern) {
      for (let i = 0; i < 100; i++) {
        if (pattern.test(out)) return true;
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    },
    async stop(signal = 'SIGTERM') {
      if (exitCode === undefined) child.kill(signal);
      return exited;
    },
  };
}

/** A binary-mode CloudEvent request. */
export function binaryEvent(
  id: string,
  body: Buffer | string,
  contentType: string,
  extra: Record<string, string> = {},
): RequestInit {
  return {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': id,
      'ce-source': '/tests/contract',
      'ce-type': 'yolo.detection.requested',
      'content-type': contentType,
      ...extra,
    },
    body: body as BodyInit,
  };
}

export const pathEvent = (id: string, data: unknown, extra: Record<string, string> = {}): RequestInit =>
  binaryEvent(id, JSON.stringify(data), 'application/json', extra);
