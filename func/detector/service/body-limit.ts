import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, JSON_TYPE } from '../../shared/error-body.js';
import { outcomeOf, requestsTotal } from './metrics.js';

/** Room for a MAX_IMAGE_BYTES image sent as base64 in a structured event (4/3 the size) plus its JSON. */
export function bodyLimitFor(maxImageBytes: number): number {
  return Math.ceil((maxImageBytes * 4) / 3) + 1024 * 1024;
}

/** Beyond this much, an oversized body is cut off rather than read to the end. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/** The request declares a body longer than the limit. */
export function declaresOversizedBody(req: IncomingMessage, bodyLimit: number): boolean {
  const declared = Number(req.headers['content-length']);
  return Number.isFinite(declared) && declared > bodyLimit;
}

/**
 * Answers 413 to a body whose declared length is over the limit. The body is read and discarded first
 * (up to DRAIN_LIMIT): a server that answers mid-upload and closes makes most clients report a reset
 * connection instead of the 413.
 */
export function rejectOversized(req: IncomingMessage, res: ServerResponse, bodyLimit: number): void {
  let seen = 0;
  const body = JSON.stringify(
    errorBody('IMAGE_TOO_LARGE', `The request body is over the limit of ${bodyLimit} bytes.`),
  );
  const answer = (): void => {
    if (res.headersSent) return;
    requestsTotal.inc({ outcome: outcomeOf(413), code: '413' });
    res.writeHead(413, {
      'content-type': JSON_TYPE,
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    });
    res.end(body);
  };
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DRAIN_LIMIT) {
      answer();
      req.destroy();
    }
  });
  req.on('end', answer);
  req.on('error', () => undefined);
}
