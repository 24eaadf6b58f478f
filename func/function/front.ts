import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import { translateFrameworkError, type FrameworkError } from '../contract/framework-errors.js';
import { declaresOversizedBody, rejectOversized } from '../contract/http-limits.js';
import { outcomeOf, registry, requestsTotal } from '../metrics.js';

/**
 * Two things faas-js-runtime does not let a function configure, added in front of its fastify server:
 *  - GET /metrics serves prom-client's default registry (the runtime serves its own private registry,
 *    which it moves to METRICS_URL, /metrics/runtime by default here);
 *  - errors raised by the runtime itself before `handle` runs (body over the limit, unparsable JSON,
 *    events its SDK rejects) come out in fastify's shape, often as 500. They are rewritten into the
 *    contract's `{error, code}` with the status the contract gives, so a Broker dead-letters a bad event
 *    instead of retrying it forever.
 */

function isFastifyError(body: unknown): body is FrameworkError & { statusCode: number } {
  return typeof body === 'object' && body !== null && typeof (body as FrameworkError).statusCode === 'number';
}

function normaliseErrors(res: ServerResponse, bodyLimit: number): void {
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: OutgoingHttpHeaders) => ServerResponse;
  const write = res.write.bind(res) as (chunk: unknown) => boolean;
  const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
  // An error response is held back whole (fastify writes the head, the body, then ends) so it can be rewritten.
  let held: { status: number; headers: OutgoingHttpHeaders; chunks: Buffer[] } | undefined;
  const toBuffer = (chunk: unknown): Buffer =>
    Buffer.isBuffer(chunk) ? chunk : typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.alloc(0);
  res.writeHead = ((status: number, ...args: unknown[]) => {
    const headers = (typeof args[0] === 'string' ? args[1] : args[0]) as OutgoingHttpHeaders | undefined;
    if (status >= 400) {
      held = { status, headers: { ...(headers ?? {}) }, chunks: [] };
      return res;
    }
    return writeHead(status, headers);
  }) as typeof res.writeHead;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (!held) return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    held.chunks.push(toBuffer(chunk));
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    if (callback) process.nextTick(callback);
    return true;
  }) as typeof res.write;
  res.end = ((chunk?: unknown) => {
    if (!held) return end(chunk ?? undefined);
    const { status, headers, chunks } = held;
    held = undefined;
    if (chunk !== null && chunk !== undefined && typeof chunk !== 'function') chunks.push(toBuffer(chunk));
    const original = Buffer.concat(chunks);
    let parsed: unknown;
    try {
      parsed = JSON.parse(original.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (!isFastifyError(parsed)) {
      writeHead(status, headers);
      return end(original);
    }
    const [code, name, error] = translateFrameworkError({ ...parsed, statusCode: status }, bodyLimit);
    const body = JSON.stringify({ error, code: name });
    requestsTotal.inc({ outcome: outcomeOf(code), code: String(code) });
    writeHead(code, {
      ...headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
    });
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

/** Puts the front before the runtime's own request listener. */
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
    normaliseErrors(res, bodyLimit);
    for (const listener of runtime) listener.call(server, req, res);
  });
}
