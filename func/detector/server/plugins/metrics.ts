import type { FastifyInstance } from 'fastify';
import { registry } from '../../service/metrics.js';

/** Prometheus metrics: the same registry, so the same names, as the Knative Function serves. */
export default async function metrics(app: FastifyInstance) {
  app.get('/metrics', { logLevel: 'warn' }, async (_req, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
}
