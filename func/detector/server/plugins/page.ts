import type { FastifyInstance } from 'fastify';
import { UPLOAD_PAGE } from '../upload-page.js';

/** GET /: the upload page. */
export default async function page(app: FastifyInstance) {
  app.get('/', async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header(
        'content-security-policy',
        "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'",
      )
      .send(UPLOAD_PAGE),
  );
}
