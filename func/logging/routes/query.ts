import type { FastifyInstance } from 'fastify';
import { errorBody } from '../../shared/error-body.js';
import type { Cursor, DetectionStore } from '../store.js';

/** The read API: detections newest first with cursor pagination, one request, failures, and statistics. */

const cursorSchema = { type: 'string', maxLength: 200 } as const;
const time = { type: 'string', format: 'date-time' } as const;
const limit = { type: 'integer', minimum: 1, maximum: 500, default: 50 } as const;

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.timeMs, c.id])).toString('base64url');
}

export class CursorError extends Error {
  statusCode = 400;
  code = 'FST_ERR_VALIDATION';
}

export function decodeCursor(text: string | undefined): Cursor | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isSafeInteger(x))) {
      return { timeMs: v[0] as number, id: v[1] as number };
    }
  } catch {
    // fall through
  }
  throw new CursorError('querystring/cursor is not a cursor this service issued');
}

const date = (s: string | undefined): Date | undefined => (s === undefined ? undefined : new Date(s));

export default async function query(app: FastifyInstance, opts: { store: DetectionStore }) {
  app.get<{
    Querystring: {
      label?: string;
      since?: string;
      until?: string;
      minConfidence?: number;
      limit: number;
      cursor?: string;
    };
  }>(
    '/detections',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            label: { type: 'string', minLength: 1, maxLength: 200 },
            since: time,
            until: time,
            minConfidence: { type: 'number', minimum: 0, maximum: 1 },
            limit,
            cursor: cursorSchema,
          },
        },
      },
    },
    async (req) => {
      const q = req.query;
      const page = await opts.store.listRequests({
        label: q.label,
        since: date(q.since),
        until: date(q.until),
        minConfidence: q.minConfidence,
        limit: q.limit,
        cursor: decodeCursor(q.cursor),
      });
      return { items: page.items, nextCursor: page.next ? encodeCursor(page.next) : null };
    },
  );

  app.get<{ Params: { id: number } }>(
    '/detections/:id',
    {
      schema: {
        params: {
          type: 'object',
          properties: { id: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } },
          required: ['id'],
        },
      },
    },
    async (req, reply) => {
      const found = await opts.store.getRequest(req.params.id);
      if (!found) return reply.code(404).send(errorBody('NOT_FOUND', `There is no detection record ${req.params.id}.`));
      return found;
    },
  );

  app.get<{ Querystring: { limit: number; cursor?: string } }>(
    '/failures',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit, cursor: cursorSchema },
        },
      },
    },
    async (req) => {
      const page = await opts.store.listFailures(req.query.limit, decodeCursor(req.query.cursor));
      return { items: page.items, nextCursor: page.next ? encodeCursor(page.next) : null };
    },
  );

  app.get<{ Querystring: { since?: string; until?: string } }>(
    '/stats',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: time, until: time },
        },
      },
    },
    async (req) => opts.store.stats(date(req.query.since), date(req.query.until)),
  );
}
