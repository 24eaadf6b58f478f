import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DetectionError } from '../../shared/errors.js';

/** Temp files are dot-files with this suffix, so readers that list a folder never pick one up. */
const TEMP_SUFFIX = '.partial';

/** Errors that mean the volume, not the request, is at fault: the Broker should retry later. */
const RETRYABLE = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'ENOENT',
  'ENOTDIR',
  'EMFILE',
  'ENFILE',
  'EBUSY',
]);

/**
 * A file-name-safe id for a request, derived from the event's source and id, so the same event always maps
 * to the same files (redelivery overwrites, never duplicates). The readable part is sanitised (letters,
 * digits, '-' and '_' only, so no separators and no leading dot); the hash keeps ids that sanitise alike apart.
 */
export function outputId(source: string, id: string): string {
  const readable = id
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/^[_-]+/, '')
    .slice(0, 48);
  const digest = createHash('sha256').update(source).update('\0').update(id).digest('hex').slice(0, 16);
  return readable ? `${readable}-${digest}` : digest;
}

/** `<yyyy>/<mm>/<dd>/<id>`, relative to the output root, dated in UTC. */
export function outputStem(date: Date, id: string): string {
  const yyyy = String(date.getUTCFullYear()).padStart(4, '0');
  const mm = String(date.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(date.getUTCDate()).padStart(2, '0');
  return path.posix.join(yyyy, mm, dd, id);
}

export interface OutputFile {
  /** Path relative to the output root. */
  relativePath: string;
  data: Buffer | string;
}

function storageError(err: unknown, what: string): DetectionError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (RETRYABLE.has(code)) {
    const reason =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? 'is full'
        : code === 'EROFS'
          ? 'is read-only'
          : code === 'EACCES' || code === 'EPERM'
            ? 'is not writable by this process'
            : `failed (${code})`;
    return new DetectionError('OUTPUT_UNAVAILABLE', `The output volume ${reason}; could not write ${what}.`, {
      cause: err,
    });
  }
  return new DetectionError('INTERNAL', `Writing ${what} failed unexpectedly.`, { cause: err });
}

export class OutputStore {
  constructor(readonly root: string) {}

  /**
   * Writes each file to a temp file in its destination folder and renames it into place, so no reader ever
   * sees a partial file. Files are committed in order: put the one that marks completion (the JSON) last.
   * On failure, every temp file of this call is removed and the error says the volume is unavailable.
   */
  async write(files: readonly OutputFile[]): Promise<void> {
    const temps: string[] = [];
    try {
      const staged: [string, string][] = [];
      for (const file of files) {
        const final = this.resolve(file.relativePath);
        await mkdir(path.dirname(final), { recursive: true });
        const temp = path.join(
          path.dirname(final),
          `.${path.basename(final)}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`,
        );
        temps.push(temp);
        await writeFile(temp, file.data, { flag: 'wx', mode: 0o644 });
        staged.push([temp, final]);
      }
      for (const [temp, final] of staged) await rename(temp, final);
    } catch (err) {
      await Promise.all(temps.map((t) => unlink(t).catch(() => undefined)));
      throw storageError(err, files.map((f) => f.relativePath).join(' and '));
    }
  }

  /** Absolute path of a relative output path; refuses anything that would leave the root. */
  resolve(relativePath: string): string {
    const full = path.resolve(this.root, relativePath);
    const root = path.resolve(this.root);
    if (full !== root && !full.startsWith(root + path.sep)) {
      throw new DetectionError('INTERNAL', `output path ${relativePath} leaves the output root`);
    }
    return full;
  }

  /**
   * Removes temp files left by a process that died mid-write (kill -9, OOM). Called at start; walks the tree
   * once, which is cheap next to loading a model.
   */
  async sweepTempFiles(): Promise<number> {
    let removed = 0;
    const walk = async (dir: string, depth: number): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory() && depth < 4) await walk(full, depth + 1);
        else if (e.isFile() && e.name.startsWith('.') && e.name.endsWith(TEMP_SUFFIX)) {
          await rm(full, { force: true });
          removed++;
        }
      }
    };
    await walk(path.resolve(this.root), 0);
    return removed;
  }
}
