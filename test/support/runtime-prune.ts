import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ROOT } from './paths.js';

/**
 * The Dockerfile's list of what Linux never loads, read from the Dockerfile itself (the RUN that removes
 * onnxruntime-node's other platforms), with `$other` as the build platform's other architecture.
 */
export function runtimePrunePatterns(arch: string = process.arch): string[] {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const run = dockerfile
    .split('\n')
    .find((l) => l.startsWith('RUN') && l.includes('rm -rf node_modules/onnxruntime-node'));
  if (!run) throw new Error('the Dockerfile has no RUN that trims node_modules');
  const other = arch === 'x64' ? 'arm64' : 'x64';
  const list = run.slice(run.indexOf('rm -rf') + 'rm -rf'.length).split(/\s+/);
  return list
    .filter((w) => w.replace(/"/g, '').startsWith('node_modules/'))
    .map((w) => w.replace(/"/g, '').replace('$other', other));
}

/** The paths a pattern names under `root` (a `*` stands for one path segment, as the shell expands it). */
export function expand(root: string, pattern: string): string[] {
  let found = [''];
  for (const segment of pattern.split('/')) {
    found = found.flatMap((prefix) => {
      if (segment !== '*') return [path.join(prefix, segment)];
      try {
        return readdirSync(path.join(root, prefix)).map((e) => path.join(prefix, e));
      } catch {
        return [];
      }
    });
  }
  return found.filter((p) => existsSync(path.join(root, p)));
}

/** Removes what the Dockerfile removes from an app folder (its node_modules already pruned of dev dependencies). */
export async function applyRuntimePrune(app: string): Promise<string[]> {
  const removed = runtimePrunePatterns().flatMap((p) => expand(app, p));
  for (const p of removed) await rm(path.join(app, p), { recursive: true, force: true });
  return removed;
}
