import type { FastifyInstance } from 'fastify';
import { livenessResponse, readinessResponse } from '../../service/health.js';
import type { DetectionService } from '../../service/service.js';

/** The probes, with the same paths and bodies as the Knative Function. */
export default async function health(app: FastifyInstance, opts: { service: DetectionService }) {
  app.get('/health/liveness', { logLevel: 'warn' }, async (_req, reply) => {
    const r = livenessResponse(opts.service);
    return reply.code(r.status).headers(r.headers).send(r.body);
  });
  app.get('/health/readiness', { logLevel: 'warn' }, async (_req, reply) => {
    const r = readinessResponse(opts.service);
    return reply.code(r.status).headers(r.headers).send(r.body);
  });
}
