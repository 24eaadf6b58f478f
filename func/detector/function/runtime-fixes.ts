import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { CloudEvent as SdkEvent } from 'cloudevents';
import {
  checkRequired,
  checkTime,
  CONTEXT_ATTRIBUTES,
  header,
  mediaType,
  readCloudEvent,
  type CloudEvent,
  type Headers,
} from '../../shared/cloudevent.js';
import { errorBody, JSON_TYPE } from '../../shared/error-body.js';
import { translateFrameworkError, type FrameworkError } from '../../shared/http/framework-errors.js';
import { declaresOversizedBody, rejectOversized } from '../service/body-limit.js';
import { outcomeOf, registry, requestsTotal } from '../service/metrics.js';

/**
 * What faas-js-runtime 3 (and the CloudEvents SDK 10 it parses with) gets wrong for this function, corrected
 * here and nowhere else; test/unit/runtime-fixes.test.ts shows each fault without its correction.
 *
 * In the event it hands to `handle`:
 *  1. a structured event's `data_base64` becomes a Uint32Array with one element per byte (`parseStructured`):
 *     four times the size, and no image decoder can read it;
 *  2. a structured event without an `id` gets a random one (`new CloudEvent(…, false)`), so a redelivery of it
 *     could never be recognised;
 *  3. a binary event without `ce-specversion` is given 1.0, and one without `ce-time` the time of arrival, so
 *     neither can be told from an event that had them;
 *  4. a request the SDK does not take for an event (a binary event with no `ce-id`, a time it cannot parse, or
 *     no CloudEvent at all) reaches `handle` with no event, as if it were a plain HTTP call.
 * Structured requests and those without an event are therefore read from the raw request by the shared reader;
 * a binary event, which the SDK reads right but for what it invents, is taken as the runtime parsed it.
 *
 * In front of the runtime's server:
 *  5. errors it raises before `handle` runs (body over the limit, unparsable JSON, events its SDK rejects) leave
 *     in fastify's shape, most as 500, so a Broker would retry a bad event forever: they are rewritten into the
 *     contract's `{error, code}` with the contract's status;
 *  6. it serves its own private metrics registry on /metrics (moved to METRICS_URL): /metrics serves ours.
 */

const isStructured = (headers: Headers): boolean =>
  mediaType(header(headers, 'content-type'))?.startsWith('application/cloudevents') ?? false;

/** The envelope of the request `handle` was given: the runtime's event where it is right, else the raw request. */
export function eventFromRuntime(
  context: { headers: Headers; body?: unknown },
  event: SdkEvent<unknown> | undefined,
): CloudEvent {
  if (event === undefined || isStructured(context.headers)) {
    return readCloudEvent({ headers: context.headers, body: context.body });
  }
  const attrs = event as unknown as Record<string, unknown>;
  // specversion and time as sent: the SDK fills in both when they are missing.
  const specversion = header(context.headers, 'ce-specversion');
  checkRequired({ specversion, id: attrs.id, source: attrs.source, type: attrs.type });
  const extensions: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (!CONTEXT_ATTRIBUTES.has(k) && !SDK_FIELDS.has(k) && v !== undefined && v !== null) extensions[k] = String(v);
  }
  return {
    mode: 'binary',
    id: event.id,
    source: event.source,
    type: event.type,
    time: checkTime(header(context.headers, 'ce-time')),
    subject: event.subject,
    datacontenttype: mediaType(event.datacontenttype),
    extensions,
    // The raw body, not the SDK's copy: the SDK also base64-encodes binary data into data_base64.
    data: context.body,
    base64: false,
  };
}

/** Fields of the SDK's event object that are not extension attributes. */
const SDK_FIELDS = new Set(['data', 'data_base64', 'datacontentencoding', 'schemaurl']);

/** Holds an error response back whole (fastify writes its head, the body, then ends) to rewrite it. */
function rewriteErrors(res: ServerResponse, bodyLimit: number): void {
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: OutgoingHttpHeaders) => ServerResponse;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
  let held: { status: number; headers: OutgoingHttpHeaders; chunks: Buffer[] } | undefined;
  const bytes = (chunk: unknown): Buffer =>
    Buffer.isBuffer(chunk) ? chunk : typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.alloc(0);
  res.writeHead = ((status: number, ...args: unknown[]) => {
    const headers = (typeof args[0] === 'string' ? args[1] : args[0]) as OutgoingHttpHeaders | undefined;
    if (status < 400) return writeHead(status, headers);
    held = { status, headers: { ...(headers ?? {}) }, chunks: [] };
    return res;
  }) as typeof res.writeHead;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (!held) return write(chunk, ...rest);
    held.chunks.push(bytes(chunk));
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    if (callback) process.nextTick(callback);
    return true;
  }) as typeof res.write;
  res.end = ((chunk?: unknown) => {
    if (!held) return end(chunk);
    const { status, headers, chunks } = held;
    held = undefined;
    if (typeof chunk !== 'function') chunks.push(bytes(chunk));
    const original = Buffer.concat(chunks);
    let parsed: FrameworkError | undefined;
    try {
      parsed = JSON.parse(original.toString('utf8')) as FrameworkError;
    } catch {
      parsed = undefined;
    }
    if (typeof parsed?.statusCode !== 'number') {
      writeHead(status, headers);
      return end(original);
    }
    const [code, name, error] = translateFrameworkError({ ...parsed, statusCode: status }, bodyLimit);
    const body = JSON.stringify(errorBody(name, error));
    requestsTotal.inc({ outcome: outcomeOf(code), code: String(code) });
    writeHead(code, { ...headers, 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(body)) });
    return end(body);
  }) as typeof res.end;
}

async function serveMetrics(res: ServerResponse): Promise<void> {
  try {
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(text);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`metrics failed: ${(err as Error).message}`);
  }
}

/** Puts the corrections 5 and 6 (and the early 413) in front of the runtime's own request listener. */
export function installFront(server: Server, bodyLimit: number): void {
  const runtime = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
      void serveMetrics(res);
      return;
    }
    if (declaresOversizedBody(req, bodyLimit)) {
      rejectOversized(req, res, bodyLimit);
      return;
    }
    rewriteErrors(res, bodyLimit);
    for (const listener of runtime) listener.call(server, req, res);
  });
}
