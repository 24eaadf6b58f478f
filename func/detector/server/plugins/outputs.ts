import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../../../shared/error-body.js';
import type { OutputStore } from '../../core/storage.js';

/** Only names this service writes: <yyyy>/<mm>/<dd>/<id>.<jpg|png|json>. Nothing else on the volume is served. */
const OUTPUT_NAME = /^\d{4}\/\d{2}\/\d{2}\/[A-Za-z0-9_-]{1,80}\.(jpg|png|json)$/;
const TYPES: Record<string, string> = { jpg: 'image/jpeg', png: 'image/png', json: 'application/json; charset=utf-8' };

/** GET /outputs/<path>: the files a detection wrote, so the upload page (or a person) can look at them. */
export default async function outputs(app: FastifyInstance, opts: { store: OutputStore }) {
  app.get<{ Params: { '*': string } }>('/outputs/*', async (req, reply) => {
    const rel = req.params['*'];
    const match = OUTPUT_NAME.exec(rel);
    const notFound = errorBody('NOT_FOUND', `There is no output ${rel.slice(0, 100)}.`);
    if (!match) return reply.code(404).send(notFound);
    const file = opts.store.resolve(rel);
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return reply.code(404).send(notFound);
    return reply
      .type(TYPES[match[1]!]!)
      .header('content-length', info.size)
      .header('cache-control', 'private, max-age=3600')
      .send(createReadStream(file));
  });
}
