import type { FastifyInstance } from 'fastify';
import { parseDetectionRequest } from '../../contract/request.js';
import { handleDetectionEvent } from '../../service/handle-event.js';
import type { DetectionService } from '../../service/service.js';

/**
 * POST /: the CloudEvent contract. Every body arrives as raw bytes (this plugin's own content-type parser,
 * encapsulated so it does not reach the multipart route), and the shared contract parses it, exactly as the
 * Knative Function does.
 */
export default async function cloudevents(
  app: FastifyInstance,
  opts: { service: DetectionService; bodyLimit: number },
) {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) =>
    done(null, body),
  );
  app.post('/', async (req, reply) => {
    const request = { headers: req.headers, body: req.body };
    const res = await handleDetectionEvent(opts.service, req.headers, () => parseDetectionRequest(request), req.log);
    return reply.code(res.status).headers(res.headers).send(res.body);
  });
}
