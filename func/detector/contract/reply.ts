import { createHash } from 'node:crypto';
import { CloudEvent, HTTP } from 'cloudevents';
import { REPLY_TYPE, type DetectionRecord } from '../../shared/record.js';

/**
 * The reply event's id is derived from the request's source and id, so a redelivered request yields a reply
 * with the same id, and consumers that deduplicate on (source, id), such as the logging service, store it once.
 */
export function replyId(requestSource: string, requestId: string): string {
  return createHash('sha256')
    .update(REPLY_TYPE)
    .update('\0')
    .update(requestSource)
    .update('\0')
    .update(requestId)
    .digest('hex')
    .slice(0, 32);
}

export interface BinaryMessage {
  headers: Record<string, string>;
  body: string;
}

/**
 * The `yolo.detection.completed` reply as a binary-mode HTTP message. `trace` (traceparent, tracestate) goes on
 * as the distributed-tracing extension and as the W3C headers, so the Broker's next delivery joins the trace.
 */
export function replyMessage(
  record: DetectionRecord,
  source: string,
  trace: Readonly<Record<string, string>> = {},
): BinaryMessage {
  const event = new CloudEvent({
    ...trace,
    specversion: '1.0',
    id: replyId(record.requestSource, record.requestId),
    source,
    type: REPLY_TYPE,
    subject: 'path' in record.input ? record.input.path : record.requestId,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: record,
  });
  const message = HTTP.binary(event);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers)) if (v !== undefined) headers[k.toLowerCase()] = String(v);
  for (const [k, v] of Object.entries(trace)) headers[k] = v;
  const body = typeof message.body === 'string' ? message.body : JSON.stringify(record);
  return { headers, body };
}
