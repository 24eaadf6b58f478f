import { readdir, readFile } from 'node:fs/promises';
import { procStatFields } from '../../func/bench/server.js';

/** A process's threads as the kernel reports them: what a test checks of thread priorities. */

export interface OsThread {
  id: number;
  name: string;
  nice: number;
  cpuTicks: number;
}

/** Every thread of `pid` as /proc reports it (proc(5): stat fields 14-15 utime and stime, 19 nice). */
export async function threadsOf(pid: number): Promise<OsThread[]> {
  const ids = await readdir(`/proc/${pid}/task`);
  return Promise.all(
    ids.map(async (id) => {
      const fields = await procStatFields(`/proc/${pid}/task/${id}/stat`);
      return {
        id: Number(id),
        name: (await readFile(`/proc/${pid}/task/${id}/comm`, 'utf8')).trim(),
        nice: Number(fields[16]),
        cpuTicks: Number(fields[11]) + Number(fields[12]),
      };
    }),
  );
}

/**
 * The processes under `pid` (its children, theirs, ...) with their uid: a server started under bubblewrap and setpriv
 * is a descendant of the process the test spawned, not that process (proc(5): /proc/<pid>/status PPid, Uid).
 */
export async function descendantsOf(pid: number): Promise<{ pid: number; uid: number; name: string }[]> {
  const all = await Promise.all(
    (await readdir('/proc'))
      .filter((d) => /^\d+$/.test(d))
      .map(async (d) => {
        const status = await readFile(`/proc/${d}/status`, 'utf8').catch(() => '');
        const field = (name: string): string => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '';
        return { pid: Number(d), ppid: Number(field('PPid')), uid: Number(field('Uid')), name: field('Name') };
      }),
  );
  const found: { pid: number; uid: number; name: string }[] = [];
  let parents = new Set([pid]);
  while (parents.size > 0) {
    const children = all.filter((p) => parents.has(p.ppid));
    found.push(...children.map(({ pid, uid, name }) => ({ pid, uid, name })));
    parents = new Set(children.map((p) => p.pid));
  }
  return found;
}
