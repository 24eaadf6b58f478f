import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Db } from './db.js';
import { StoreUnavailableError } from './store.js';

/** SQLite errors that mean "the database cannot take this write now": retry later rather than drop the event. */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|READONLY|CANTOPEN|PROTOCOL|NOTADB|CORRUPT)/;

function wrap(err: unknown): unknown {
  const code = (err as { code?: string }).code ?? '';
  return UNAVAILABLE.test(code) ? new StoreUnavailableError(`SQLite: ${(err as Error).message} (${code})`) : err;
}

/**
 * better-sqlite3 is synchronous, so a transaction written as async code could interleave with another request's
 * statements at each await; transactions therefore run one at a time through a promise chain.
 */
export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(file: string, busyTimeoutMs: number) {
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      this.db = new Database(file, { timeout: busyTimeoutMs });
      // WAL lets readers (the query API) run while an event is written.
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
    } catch (err) {
      throw wrap(err);
    }
  }

  async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    try {
      const stmt = this.db.prepare(sql);
      if (stmt.reader) return stmt.all(...(params as unknown[])) as T[];
      stmt.run(...(params as unknown[]));
      return [];
    } catch (err) {
      throw wrap(err);
    }
  }

  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      await this.query('BEGIN IMMEDIATE');
      try {
        const result = await work(this);
        await this.query('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    await this.queue;
    this.db.close();
  }
}
