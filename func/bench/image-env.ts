import path from 'node:path';
import { dockerfileInstructions } from './dockerfile.js';

/**
 * The environment the image gives its process, read from the Dockerfile itself so that the bench and the tests
 * start the server as a pod does and cannot drift from it: the ENV of the runtime stage (`variant`: the
 * `runtime-cpu` or `runtime-gpu` stage the final one builds on) and of the final stage.
 */
export function imageEnv(root: string, variant: 'cpu' | 'gpu' = 'cpu'): Record<string, string> {
  const stages = new Map<string, Record<string, string>>();
  let current: Record<string, string> = {};
  let last: Record<string, string> = {};
  for (const [keyword, argument] of dockerfileInstructions(root)) {
    if (keyword === 'FROM') {
      const [base, , name] = argument.split(/\s+/);
      // The final stage builds on runtime-${VARIANT}: start it with that stage's environment.
      current = { ...(stages.get(base!.replace('${VARIANT}', variant)) ?? {}) };
      if (name) stages.set(name, current);
      last = current;
    } else if (keyword === 'ENV') {
      for (const [, key, value] of argument.matchAll(/\b([A-Z_][A-Z0-9_]*)=(\S+)/g)) current[key!] = value!;
    }
  }
  return last;
}

/** glibc's allocator variables: MALLOC_* and GLIBC_TUNABLES (where `glibc.malloc.hugetlb` is set). */
export const isAllocatorVariable = (name: string): boolean => name.startsWith('MALLOC_') || name === 'GLIBC_TUNABLES';

/**
 * glibc's allocator settings as the image sets them. glibc reads them when the process starts, so they must be in
 * its environment, not set by the code.
 */
export function imageAllocatorEnv(root: string): Record<string, string> {
  const env = Object.fromEntries(Object.entries(imageEnv(root)).filter(([k]) => isAllocatorVariable(k)));
  if (Object.keys(env).length === 0) throw new Error("the Dockerfile sets none of glibc's allocator variables");
  return env;
}

/** The image's CMD, node's arguments: the same entry point the image runs, relative to `root` as /app is. */
export function imageCommand(root: string): string[] {
  const cmd = dockerfileInstructions(root)
    .filter(([k]) => k === 'CMD')
    .pop()?.[1];
  const [node, ...args] = JSON.parse(cmd ?? 'null') as string[];
  if (node !== 'node' || !args[0]) throw new Error(`the Dockerfile's CMD is not node and a script: ${cmd}`);
  return [path.join(root, args[0]), ...args.slice(1)];
}
