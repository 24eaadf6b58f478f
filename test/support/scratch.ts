import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { IMAGES } from './paths.js';

/** A fresh directory under the system temp dir, removed when the test ends. */
export async function scratchDir(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The two volumes of a deployed detector, in a scratch dir: input with uploads/bus.jpg, and an empty output. */
export async function scratchVolumes(
  t: Test,
  prefix: string,
): Promise<{ work: string; input: string; output: string }> {
  const work = await scratchDir(t, prefix);
  const input = path.join(work, 'input');
  const output = path.join(work, 'output');
  await mkdir(path.join(input, 'uploads'), { recursive: true });
  await mkdir(output);
  await copyFile(path.join(IMAGES, 'bus.jpg'), path.join(input, 'uploads', 'bus.jpg'));
  return { work, input, output };
}
