import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { dockerfileInstructions } from './dockerfile.js';

/**
 * The size of the image's node_modules, measured as the Dockerfile makes it: `npm prune --omit=dev`, then the
 * Dockerfile's trim of what Linux never loads (read from the Dockerfile itself, the RUN that removes
 * onnxruntime-node's other platforms, with `$other` as the build platform's other architecture).
 */

export function runtimePrunePatterns(root: string, arch: string = process.arch): string[] {
  const run = dockerfileInstructions(root).find(
    ([keyword, argument]) => keyword === 'RUN' && argument.includes('rm -rf node_modules/onnxruntime-node'),
  )?.[1];
  if (!run) throw new Error('the Dockerfile has no RUN that trims node_modules');
  const other = arch === 'x64' ? 'arm64' : 'x64';
  return run
    .slice(run.indexOf('rm -rf') + 'rm -rf'.length)
    .split(/\s+/)
    .map((w) => w.replace(/"/g, ''))
    .filter((w) => w.startsWith('node_modules/'))
    .map((w) => w.replace('$other', other));
}

/** The paths a pattern names under `root` (a `*` stands for one path segment, as the shell expands it). */
export function expand(root: string, pattern: string): string[] {
  let found = [''];
  for (const segment of pattern.split('/')) {
    found = found.flatMap((prefix) => {
      if (segment !== '*') return [path.join(prefix, segment)];
      return existsSync(path.join(root, prefix))
        ? readdirSync(path.join(root, prefix)).map((e) => path.join(prefix, e))
        : [];
    });
  }
  return found.filter((p) => existsSync(path.join(root, p)));
}

/** Removes what the Dockerfile removes from an app folder whose node_modules is already pruned. */
export function applyRuntimePrune(root: string, app: string): string[] {
  const removed = runtimePrunePatterns(root).flatMap((p) => expand(app, p));
  for (const p of removed) rmSync(path.join(app, p), { recursive: true, force: true });
  return removed;
}

/**
 * The image's app folder made in `app` (which must exist): the package files and a hard-linked copy of this
 * checkout's node_modules (nothing is downloaded), pruned of dev dependencies and trimmed as the Dockerfile trims it.
 */
export function buildRuntimeTree(root: string, app: string): void {
  for (const f of ['package.json', 'package-lock.json', '.npmrc']) cpSync(path.join(root, f), path.join(app, f));
  execFileSync('cp', ['-al', path.join(root, 'node_modules'), path.join(app, 'node_modules')]);
  // npm rewrites its hidden lockfile in place, which would write through the hard link.
  rmSync(path.join(app, 'node_modules', '.package-lock.json'), { force: true });
  execFileSync('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund'], { cwd: app, stdio: 'ignore' });
  applyRuntimePrune(root, app);
}

/** Bytes of node_modules in the image, measured on a tree built as above. */
export function runtimeDependencyBytes(root: string, scratch: string): number {
  const app = mkdtempSync(path.join(scratch, 'runtime-'));
  try {
    buildRuntimeTree(root, app);
    return Number(execFileSync('du', ['-sb', path.join(app, 'node_modules')], { encoding: 'utf8' }).split('\t')[0]);
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
}
