import { setPriority } from 'node:os';
import { threadIds } from '../core/os-threads.js';

/** How a refusal begins: the service says it at warn, where the other reasons for lowering nothing are expected. */
export const REFUSED = 'setpriority refused';

/**
 * Gives every thread of the process but the inference ones the nice value `nice` (OTHER_THREADS_NICE): the main
 * thread (HTTP, pre- and postprocessing), libuv's pool, V8's helpers and, as they are started later by those, the
 * libvips workers. Inference then takes the cores whenever it can run, and the codecs fill the moments its threads
 * wait on each other, instead of preempting one of them and leaving the other waiting
 * (docs/performance.md, Inference first). Raising a nice value needs no privilege; lowering one back does, so this
 * is done once. Returns how many threads it lowered, or why it lowered none.
 */
export function lowerOtherThreads(inference: readonly number[], nice: number): number | string {
  if (nice === 0) return 'OTHER_THREADS_NICE is 0';
  if (inference.length === 0) return 'the inference threads are not known here (no /proc)';
  const keep = new Set(inference);
  let lowered = 0;
  let refused: string | undefined;
  for (const id of threadIds()) {
    if (keep.has(id)) continue;
    try {
      setPriority(id, nice);
      lowered++;
    } catch (err) {
      // ESRCH: a thread that ended since it was listed. Anything else (a sandbox that forbids setpriority) is said.
      // os.setPriority throws ERR_SYSTEM_ERROR with the errno's name in `info.code`.
      const code = (err as { info?: { code?: string } }).info?.code;
      if (code !== 'ESRCH') refused ??= `${REFUSED}: ${code ?? (err as Error).message}`;
    }
  }
  return lowered === 0 && refused ? refused : lowered;
}
