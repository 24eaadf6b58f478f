import { context, SpanKind, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  expectEventType,
  isJsonType,
  parseJson,
  readCloudEvent,
  toBuffer,
  type CloudEvent,
} from '../../shared/cloudevent.js';
import { inSpan, markError, startServerSpan } from '../../shared/tracing.js';
import { errorBody, STATUS } from '../../shared/error-body.js';
import { DetectionError } from '../../shared/errors.js';
import { parseDetectionRecord, REPLY_TYPE } from '../../shared/record.js';
import { eventsTotal, writeDuration } from '../metrics.js';
import { StoreUnavailableError, type DetectionStore } from '../store.js';

/**
 * POST / takes the detector's `yolo.detection.completed` events; POST /failures takes whatever a Broker
 * dead-letters. Both answer 202 with an empty body once the event is stored (or was already), and never reply
 * with an event, so this sink can never start a loop. Nothing is acknowledged that was not stored: a database
 * fault is a 503, which the Broker retries.
 */
export default async function ingest(app: FastifyInstance, opts: { store: DetectionStore; ready: () => boolean }) {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 16 * 1024 * 1024 }, (_req, body, done) =>
    done(null, body),
  );

  const fail = (reply: FastifyReply, err: unknown): FastifyReply => {
    if (err instanceof DetectionError) {
      eventsTotal.inc({ outcome: 'invalid' });
      return reply.code(STATUS[err.code]).send(errorBody(err.code, err.message));
    }
    if (err instanceof StoreUnavailableError || !opts.ready()) {
      eventsTotal.inc({ outcome: 'unavailable' });
      reply.log.warn({ err: (err as Error).message }, 'database unavailable; the event will be redelivered');
      return reply
        .code(503)
        .send(
          errorBody(
            'DATABASE_UNAVAILABLE',
            'The database is unavailable; the event was not stored and should be delivered again.',
          ),
        );
    }
    throw err;
  };

  const timed = async <T>(work: () => Promise<T>): Promise<T> => {
    const end = writeDuration.startTimer();
    try {
      // OpenTelemetry's database conventions: the system and the operation.
      return await inSpan('db.write', work, {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system.name': opts.store.backend === 'postgres' ? 'postgresql' : 'sqlite',
          'db.operation.name': 'INSERT',
        },
      });
    } finally {
      end();
    }
  };

  /**
   * Reads the event and handles it in a span that continues the trace it carries (the Broker's traceparent header,
   * or the event's distributed-tracing extension), so the stored record joins the detection's trace.
   */
  const traced = async (
    req: FastifyRequest,
    reply: FastifyReply,
    name: string,
    handle: (event: CloudEvent, span: Span) => Promise<FastifyReply>,
  ): Promise<FastifyReply> => {
    let event: CloudEvent | undefined;
    let readError: unknown;
    try {
      event = readCloudEvent({ headers: req.headers, body: req.body });
    } catch (err) {
      readError = err;
    }
    const { span, context: active } = startServerSpan(name, req.headers, event?.extensions);
    return context.with(active, async () => {
      try {
        if (readError !== undefined) throw readError;
        span.setAttributes({ 'cloudevents.event_id': event!.id, 'cloudevents.event_source': event!.source });
        return await handle(event!, span);
      } catch (err) {
        markError(span, err);
        return fail(reply, err);
      } finally {
        span.end();
      }
    });
  };

  app.post('/', (req, reply) =>
    traced(req, reply, 'yolo.log.detection', async (event) => {
      expectEventType(event, REPLY_TYPE, 'this endpoint');
      if (!isJsonType(event.datacontenttype) || event.base64) {
        throw new DetectionError('INVALID_DATA', 'The event data must be JSON (datacontenttype application/json).');
      }
      const data = event.mode === 'binary' ? parseJson(event.data, 'The event data') : event.data;
      const record = parseDetectionRecord(data);
      if (!opts.ready()) throw new StoreUnavailableError('the schema is not migrated yet');
      const outcome = await timed(() =>
        opts.store.storeEvent({
          eventId: event.id,
          eventSource: event.source,
          time: event.time ?? new Date(),
          subject: event.subject,
          record,
        }),
      );
      eventsTotal.inc({ outcome });
      req.log.info({ ceId: event.id, ceSource: event.source, outcome }, 'detection event');
      return reply.code(202).send();
    }),
  );

  app.post('/failures', (req, reply) =>
    traced(req, reply, 'yolo.log.failure', async (event) => {
      const x = event.extensions;
      let data: string | undefined;
      if (event.data !== undefined && event.data !== null) {
        const bytes = toBuffer(event.data);
        if (bytes === undefined) data = JSON.stringify(event.data);
        else if (!event.base64 && isJsonType(event.datacontenttype)) data = bytes.toString('utf8');
        else data = `base64:${bytes.toString('base64')}`;
      }
      if (!opts.ready()) throw new StoreUnavailableError('the schema is not migrated yet');
      const outcome = await timed(() =>
        opts.store.storeFailure({
          eventId: event.id,
          eventSource: event.source,
          eventType: event.type,
          time: event.time,
          errorCode: x.knativeerrorcode,
          errorDest: x.knativeerrordest,
          // Knative sends the failed reply's body base64-encoded; keep it readable when it is text.
          errorData: decodeErrorData(x.knativeerrordata),
          data,
          extensions: x,
        }),
      );
      eventsTotal.inc({ outcome: outcome === 'stored' ? 'failure_stored' : 'failure_duplicate' });
      req.log.warn(
        { ceId: event.id, ceSource: event.source, ceType: event.type, errorCode: x.knativeerrorcode },
        'dead-lettered event',
      );
      return reply.code(202).send();
    }),
  );
}

/** knativeerrordata is base64 of the failing response body; show it as text when it is text. */
export function decodeErrorData(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return value;
  const text = Buffer.from(value, 'base64').toString('utf8');
  const printable = [...text].every((ch) => {
    const c = ch.codePointAt(0)!;
    return c === 9 || c === 10 || c === 13 || (c >= 32 && c !== 127 && c !== 0xfffd);
  });
  return printable ? text : value;
}
