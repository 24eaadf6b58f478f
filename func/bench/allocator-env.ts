import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * glibc's allocator settings as the image sets them: the MALLOC_* variables of the Dockerfile's ENV, read from the
 * Dockerfile itself so that the bench and the tests measure memory as a pod sees it and cannot drift from it.
 * glibc reads them when the process starts, so they must be in its environment, not set by the code.
 */
export function imageAllocatorEnv(root: string): Record<string, string> {
  const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const env: Record<string, string> = {};
  for (const line of dockerfile.split('\n')) {
    if (!line.startsWith('ENV ')) continue;
    for (const [, name, value] of line.matchAll(/\b(MALLOC_[A-Z_]+)=(\S+)/g)) env[name!] = value!;
  }
  if (Object.keys(env).length === 0) throw new Error('the Dockerfile sets no MALLOC_* variable');
  return env;
}
