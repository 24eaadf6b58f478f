import {
  ConfigError,
  filePath,
  integer,
  loadProcessConfig,
  PROCESS_VARIABLES,
  raw,
  type Env,
  type ProcessConfig,
} from '../shared/env.js';
import { loadTracingConfig, TRACING_VARIABLES, type TracingConfig } from '../shared/tracing.js';

/** The logging service's configuration (`npm run logging`), read from its environment once, at start. */
export interface LoggingConfig extends ProcessConfig {
  tracing: TracingConfig;
  /** PostgreSQL connection string; when set, PostgreSQL is the store (several replicas can share it). */
  databaseUrl: string | undefined;
  /** SQLite file, used when DATABASE_URL is not set (one replica). */
  databasePath: string;
  /** How long a SQLite write waits for a lock before the event is answered 503 (retryable). */
  databaseBusyTimeoutMs: number;
}

export const LOGGING_CONFIG_VARIABLES = [
  'DATABASE_URL',
  'DATABASE_PATH',
  'DATABASE_BUSY_TIMEOUT_MS',
  ...PROCESS_VARIABLES,
  ...TRACING_VARIABLES,
] as const;

export function loadLoggingConfig(env: Env = process.env): LoggingConfig {
  const url = raw(env, 'DATABASE_URL');
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// connection string');
  }
  return {
    ...loadProcessConfig(env),
    tracing: loadTracingConfig(env),
    databaseUrl: url,
    databasePath: filePath(env, 'DATABASE_PATH', '/data/logs/detections.db'),
    databaseBusyTimeoutMs: integer(env, 'DATABASE_BUSY_TIMEOUT_MS', 5000, 0, 600_000),
  };
}
