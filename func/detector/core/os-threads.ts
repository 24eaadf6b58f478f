import { readdirSync, readlinkSync } from 'node:fs';

/**
 * The kernel's ids of this process's threads, read from /proc (Linux only: elsewhere, and wherever /proc cannot be
 * read, every answer is empty and the callers do nothing).
 */
export function threadIds(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number);
  } catch {
    return [];
  }
}

/** The calling thread's kernel id (/proc/thread-self names it), or undefined where it cannot be read. */
export function currentThreadId(): number | undefined {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').at(-1));
  } catch {
    return undefined;
  }
}

/** Runs `start` and lists the threads that appeared while it ran: those it started, and any another thread did. */
export async function threadsStartedDuring<T>(start: () => Promise<T>): Promise<{ result: T; started: number[] }> {
  const before = new Set(threadIds());
  const result = await start();
  return { result, started: threadIds().filter((id) => !before.has(id)) };
}
