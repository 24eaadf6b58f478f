import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import errors from '../../shared/http/errors-plugin.js';
import { bodyLimitFor, declaresOversizedBody, rejectOversized } from '../service/body-limit.js';
import { outcomeOf, requestsTotal } from '../service/metrics.js';
import type { DetectionService } from '../service/service.js';
import cloudevents from './plugins/cloudevents.js';
import health from './plugins/health.js';
import metrics from './plugins/metrics.js';
import outputs from './plugins/outputs.js';
import page from './plugins/page.js';
import upload from './plugins/upload.js';

/**
 * The container server: one fastify app over the same service and contract as the Knative Function, with the
 * upload page and multipart route added. Each plugin has one job; only `errors` is shared app-wide.
 */
export async function buildApp(service: DetectionService, logger: Logger): Promise<FastifyInstance> {
  const bodyLimit = bodyLimitFor(service.config.maxImageBytes);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // A request that arrives on a kept-alive connection while the server closes gets a 503, which a Broker retries.
    return503OnClosing: true,
  });
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    if (declaresOversizedBody(req.raw, bodyLimit)) {
      reply.hijack();
      rejectOversized(req.raw, reply.raw, bodyLimit);
    }
  });
  await app.register(errors, {
    bodyLimit,
    count: (status) => requestsTotal.inc({ outcome: outcomeOf(status), code: String(status) }),
  });
  await app.register(health, { service });
  await app.register(metrics);
  await app.register(page);
  await app.register(outputs, { store: service.store });
  await app.register(cloudevents, { service, bodyLimit });
  await app.register(upload, { service, maxImageBytes: service.config.maxImageBytes });
  return app;
}
