import { constants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { DetectionError } from '../../shared/errors.js';

/**
 * Resolves a path taken from an event against the input root and reads the file, refusing anything that
 * would leave the root: absolute paths, `..`, NUL bytes, and symlinks (anywhere on the path) whose target is
 * outside. Only regular files are read, so a FIFO or device can never block or flood the process.
 */
export async function readInputFile(inputRoot: string, requested: string, maxBytes: number): Promise<Buffer> {
  if (requested.length === 0) throw new DetectionError('INVALID_PATH', 'The path is empty.');
  if (requested.includes('\0')) throw new DetectionError('INVALID_PATH', 'The path contains a NUL byte.');
  if (path.isAbsolute(requested) || requested.startsWith('\\') || /^[A-Za-z]:/.test(requested)) {
    throw new DetectionError(
      'INVALID_PATH',
      `The path "${requested}" is absolute; give it relative to the input volume.`,
    );
  }
  const segments = requested.split(/[/\\]/);
  if (segments.includes('..')) {
    throw new DetectionError('INVALID_PATH', `The path "${requested}" contains "..", which is not allowed.`);
  }
  let root: string;
  try {
    root = await realpath(inputRoot);
  } catch (err) {
    throw new DetectionError('INPUT_UNAVAILABLE', 'The input volume is not mounted or not readable.', { cause: err });
  }
  let real: string;
  try {
    real = await realpath(path.join(root, requested));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new DetectionError('INPUT_NOT_FOUND', `No file "${requested}" on the input volume.`, { cause: err });
    }
    if (code === 'ELOOP') throw new DetectionError('INVALID_PATH', `The path "${requested}" is a symlink loop.`);
    if (code === 'EACCES') throw new DetectionError('INVALID_PATH', `The path "${requested}" is not readable.`);
    throw new DetectionError('INPUT_UNAVAILABLE', `The input volume failed to resolve "${requested}" (${code}).`, {
      cause: err,
    });
  }
  if (real !== root && !real.startsWith(root + path.sep)) {
    throw new DetectionError('INVALID_PATH', `The path "${requested}" leads outside the input volume.`);
  }
  const info = await stat(real).catch((err: unknown) => {
    throw new DetectionError('INPUT_UNAVAILABLE', `Cannot stat "${requested}".`, { cause: err });
  });
  if (!info.isFile()) {
    const kind = info.isDirectory() ? 'a directory' : 'not a regular file';
    throw new DetectionError('INVALID_PATH', `The path "${requested}" is ${kind}.`);
  }
  if (info.size > maxBytes) {
    throw new DetectionError(
      'IMAGE_TOO_LARGE',
      `The file "${requested}" is ${info.size} bytes, over the limit of ${maxBytes} bytes.`,
    );
  }
  // O_NOFOLLOW and O_NONBLOCK guard the window between the checks above and the open.
  const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    (err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') throw new DetectionError('INVALID_PATH', `The path "${requested}" is not readable.`);
      throw new DetectionError('INPUT_UNAVAILABLE', `Cannot open "${requested}" (${code}).`, { cause: err });
    },
  );
  try {
    const again = await handle.stat();
    if (!again.isFile()) throw new DetectionError('INVALID_PATH', `The path "${requested}" is not a regular file.`);
    // Read until EOF rather than trusting the size from stat: the file may grow or shrink meanwhile.
    const buf = Buffer.alloc(Math.min(again.size, maxBytes) + 1);
    let bytesRead = 0;
    for (;;) {
      const { bytesRead: n } = await handle.read(buf, bytesRead, buf.length - bytesRead, bytesRead);
      if (n === 0) break;
      bytesRead += n;
      if (bytesRead === buf.length) break;
    }
    if (bytesRead > maxBytes) {
      throw new DetectionError('IMAGE_TOO_LARGE', `The file "${requested}" is over the limit of ${maxBytes} bytes.`);
    }
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
