import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import errors from '../shared/http/errors-plugin.js';
import { errorBody } from '../shared/error-body.js';
import { registry, requestErrorsTotal } from './metrics.js';
import ingest from './routes/ingest.js';
import query from './routes/query.js';
import { StoreUnavailableError, type DetectionStore } from './store.js';

export interface LoggingState {
  /** True once the schema is migrated; until then events get 503 and readiness is false. */
  migrated: boolean;
}

/** The logging service: a CloudEvents sink with a query API, over SQLite or PostgreSQL. */
export async function buildLoggingApp(
  store: DetectionStore,
  state: LoggingState,
  logger: Logger,
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    // Unknown query parameters are an error, not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true } },
  });
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  await app.register(errors, {
    bodyLimit: 16 * 1024 * 1024,
    count: (status) => requestErrorsTotal.inc({ status: String(status) }),
    // A database fault during a query is the same retryable condition as during a write.
    classify: (err) =>
      err instanceof StoreUnavailableError
        ? [503, 'DATABASE_UNAVAILABLE', 'The database is unavailable; try again shortly.']
        : undefined,
  });

  app.get('/health/liveness', { logLevel: 'warn' }, async () => ({ status: 'alive' }));
  app.get('/health/readiness', { logLevel: 'warn' }, async (_req, reply) => {
    if (!state.migrated) return reply.code(503).send(errorBody('NOT_READY', 'The schema is not migrated yet.'));
    try {
      await store.ping();
      return { status: 'ready', backend: store.backend };
    } catch (err) {
      return reply
        .code(503)
        .send(errorBody('DATABASE_UNAVAILABLE', `The database does not answer: ${(err as Error).message}`));
    }
  });
  app.get('/metrics', { logLevel: 'warn' }, async (_req, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
  await app.register(ingest, { store, ready: () => state.migrated });
  await app.register(query, { store });
  return app;
}
