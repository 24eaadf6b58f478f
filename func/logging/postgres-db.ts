import pg from 'pg';
import type { Log } from '../shared/logger.js';
import type { Db } from './db.js';
import { StoreUnavailableError } from './store.js';

/**
 * Errors that mean the database cannot be reached or will not take work now: connection failures, the server
 * shutting down or restarting, too many connections. The event is answered 503 and the Broker retries it.
 */
function unavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  const code = e.code ?? '';
  return (
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|EAI_AGAIN)$/.test(code) ||
    /^(08|53|57P)/.test(code) ||
    /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(
      e.message ?? '',
    )
  );
}

function wrap(err: unknown): unknown {
  return unavailable(err) ? new StoreUnavailableError(`PostgreSQL: ${(err as Error).message}`) : err;
}

/** `?` placeholders, as the shared SQL is written, to PostgreSQL's `$1, $2, …`. */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

class PgClientDb implements Db {
  readonly dialect = 'postgres' as const;
  constructor(private readonly client: pg.PoolClient) {}
  async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    try {
      return (await this.client.query(numberPlaceholders(sql), params as unknown[])).rows as T[];
    } catch (err) {
      throw wrap(err);
    }
  }
  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    return work(this);
  }
  async close(): Promise<void> {}
}

export class PostgresDb implements Db {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;

  constructor(connectionString: string, log: Log) {
    this.pool = new pg.Pool({
      connectionString,
      max: 10,
      // Fail fast when the database is down: the Broker retries, a hung request helps nobody.
      connectionTimeoutMillis: 3000,
      idleTimeoutMillis: 30_000,
    });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    this.pool.on('error', (err) => log.warn({ err: err.message }, 'PostgreSQL connection lost'));
  }

  async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    try {
      return (await this.pool.query(numberPlaceholders(sql), params as unknown[])).rows as T[];
    } catch (err) {
      throw wrap(err);
    }
  }

  async transaction<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw wrap(err);
    }
    let broken = false;
    // A checked-out client whose connection drops emits 'error' with no pool listener in between; unheard, that
    // would end the process. The failing query reports it to the caller.
    const onError = (): void => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await work(new PgClientDb(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw wrap(err);
    } finally {
      client.off('error', onError);
      // A client whose connection broke is discarded rather than returned to the pool.
      client.release(broken || undefined);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
