/**
 * `npm run logging`: the logging service on PORT. It listens at once; the schema is migrated in the
 * background, retried every two seconds until the database answers, and readiness turns true after that.
 * On SIGTERM it stops taking requests, finishes the ones in flight, closes the database and exits 0.
 */
import { loadOrExit } from '../shared/env.js';
import { createLogger } from '../shared/logger.js';
import { shutdownTracing, startTracing } from '../shared/tracing.js';
import { loadLoggingConfig } from './config.js';
import { buildLoggingApp, type LoggingState } from './app.js';
import type { Db } from './db.js';
import { PostgresDb } from './postgres-db.js';
import { SqlDetectionStore } from './sql-store.js';
import { SqliteDb } from './sqlite-db.js';

async function main(): Promise<void> {
  const config = loadOrExit('knative-yolo logging', loadLoggingConfig);
  const log = createLogger(config.logLevel, 'knative-yolo-logging');
  await startTracing(config.tracing, 'knative-yolo-logging');
  log.info(`tracing: ${config.tracing.detail}`);
  let db: Db;
  try {
    db = config.databaseUrl
      ? new PostgresDb(config.databaseUrl, log)
      : new SqliteDb(config.databasePath, config.databaseBusyTimeoutMs);
  } catch (err) {
    process.stderr.write(`knative-yolo logging: cannot open ${config.databasePath}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const store = new SqlDetectionStore(db);
  const state: LoggingState = { migrated: false };
  const app = await buildLoggingApp(store, state, log);
  await app.listen({ port: config.port, host: '::' });

  let stopping = false;
  const migrate = async (): Promise<void> => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await store.migrate();
        state.migrated = true;
        log.info({ backend: store.backend }, 'schema migrated; ready');
        return;
      } catch (err) {
        log.warn({ attempt, err: (err as Error).message }, 'migration failed; retrying in 2 s');
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  };
  void migrate();

  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(0), config.shutdownGraceMs).unref();
    const closed = app.close();
    const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
    await closed;
    clearInterval(sweep);
    await store.close();
    await shutdownTracing();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`knative-yolo logging: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
