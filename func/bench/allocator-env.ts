import { dockerfileInstructions } from './dockerfile.js';

/**
 * glibc's allocator settings as the image sets them: the MALLOC_* variables of the Dockerfile's ENV, read from the
 * Dockerfile itself so that the bench and the tests measure memory as a pod sees it and cannot drift from it.
 * glibc reads them when the process starts, so they must be in its environment, not set by the code.
 */
export function imageAllocatorEnv(root: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [keyword, argument] of dockerfileInstructions(root)) {
    if (keyword !== 'ENV') continue;
    for (const [, name, value] of argument.matchAll(/\b(MALLOC_[A-Z_]+)=(\S+)/g)) env[name!] = value!;
  }
  if (Object.keys(env).length === 0) throw new Error('the Dockerfile sets no MALLOC_* variable');
  return env;
}
