import type { Dialect } from './schema.js';

/** The little the store needs of a database: parameterised queries (`?` placeholders) and transactions. */
export interface Db {
  readonly dialect: Dialect;
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs `work` in one transaction; no other statement of this process interleaves with it. */
  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
