/**
 * `npm run bench` starts here, and runs the bench in a child process given the image's GLIBC_TUNABLES, when it sets
 * any (glibc reads it at start, so it cannot be set from inside). The image sets none since run AH; a Service that
 * sets glibc.malloc.hugetlb=1 back (docs/performance.md, Memory) is benched with it by setting it in the Dockerfile,
 * so that the floors and the pipeline measured in process get the huge pages the server gets: without them a 12 MP
 * decode, whose 36 MB glibc always maps afresh, would fault 4 KiB pages that the server does not. The image's fixed
 * mmap thresholds are not passed on: they return every block over 4 MiB to the kernel, to save RSS at the cost of
 * faulting it in again, and a floor must not carry that cost.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { imageEnv } from './image-env.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tunables = imageEnv(path.resolve(here, '..', '..', '..')).GLIBC_TUNABLES;
const child = spawn(process.execPath, [path.join(here, 'main.js'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: tunables === undefined ? process.env : { ...process.env, GLIBC_TUNABLES: tunables },
});
child.on('exit', (code) => process.exit(code ?? 1)); // null: killed by a signal
