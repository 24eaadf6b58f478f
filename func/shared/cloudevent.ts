import { DetectionError } from './errors.js';

/**
 * Reading a CloudEvent 1.0 from an HTTP request, binary or structured, once for every service here (the
 * detector's requests, the logging service's completed and dead-lettered events). The envelope is checked
 * here rather than by an SDK because SDKs fill in a missing id with a random one, which would silently break
 * idempotent redelivery.
 */

export type Headers = Readonly<Record<string, string | string[] | undefined>>;

export interface HttpRequestLike {
  headers: Headers;
  /** Raw bytes where the transport has them; adapters may pass an already-parsed JSON object or a string. */
  body: unknown;
}

export interface CloudEvent {
  mode: 'binary' | 'structured';
  id: string;
  source: string;
  type: string;
  time: Date | undefined;
  subject: string | undefined;
  /** Media type without parameters, lower case; undefined when the event does not say. */
  datacontenttype: string | undefined;
  /** Extension attributes (knativeerrorcode, traceparent, …), as strings. */
  extensions: Record<string, string>;
  /** Binary mode: the body (Buffer, or the object a framework parsed). Structured: `data`, or the decoded `data_base64`. */
  data: unknown;
  /** Structured mode only: whether the data came base64-encoded. */
  base64: boolean;
}

const invalid = (message: string): DetectionError => new DetectionError('INVALID_CLOUDEVENT', message);

export function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The media type without parameters, lower case: `Image/JPEG; q=1` → `image/jpeg`. */
export function mediaType(contentType: string | undefined): string | undefined {
  const t = contentType?.split(';')[0]?.trim().toLowerCase();
  return t === '' ? undefined : t;
}

export const isJsonType = (t: string | undefined): boolean =>
  t === undefined ||
  t === 'application/json' ||
  t === 'text/json' ||
  (t.startsWith('application/') && t.endsWith('+json'));

export function toBuffer(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return undefined;
}

/** The body as JSON: a framework may already have parsed it; otherwise parse the bytes. */
export function parseJson(body: unknown, what: string): unknown {
  if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body) && !(body instanceof Uint8Array)) return body;
  const buf = toBuffer(body);
  if (!buf || buf.length === 0) throw new DetectionError('INVALID_DATA', `${what} is empty; expected a JSON object.`);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw new DetectionError('INVALID_DATA', `${what} is not valid JSON.`);
  }
}

export function checkTime(text: unknown): Date | undefined {
  if (text === undefined) return undefined;
  const parsed = typeof text === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(text) ? new Date(text) : undefined;
  if (!parsed || Number.isNaN(parsed.getTime())) {
    throw invalid(`The CloudEvent time "${String(text).slice(0, 60)}" is not an RFC 3339 timestamp.`);
  }
  return parsed;
}

export function checkRequired(attrs: Readonly<Record<'specversion' | 'id' | 'source' | 'type', unknown>>): void {
  if (attrs.specversion === undefined) throw invalid('The CloudEvent has no specversion; this service takes 1.0.');
  if (attrs.specversion !== '1.0') {
    throw invalid(`The CloudEvent specversion is "${String(attrs.specversion)}"; this service takes 1.0.`);
  }
  for (const name of ['id', 'source', 'type'] as const) {
    const v = attrs[name];
    if (typeof v !== 'string' || v.length === 0) throw invalid(`The CloudEvent has no ${name}.`);
    if (v.length > 1024) throw invalid(`The CloudEvent ${name} is longer than 1024 characters.`);
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
export const CONTEXT_ATTRIBUTES = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'subject',
  'datacontenttype',
  'dataschema',
]);

/** Reads and validates the envelope of a binary or structured CloudEvent. */
export function readCloudEvent(req: HttpRequestLike): CloudEvent {
  const contentType = mediaType(header(req.headers, 'content-type'));
  if (contentType?.startsWith('application/cloudevents-batch')) {
    throw invalid('Batched CloudEvents are not supported; send one event per request.');
  }
  if (contentType?.startsWith('application/cloudevents')) {
    const ev = parseJson(req.body, 'The structured CloudEvent');
    if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) {
      throw invalid('A structured CloudEvent must be a JSON object.');
    }
    const e = ev as Record<string, unknown>;
    checkRequired({ specversion: e.specversion, id: e.id, source: e.source, type: e.type });
    const extensions: Record<string, string> = {};
    for (const [k, v] of Object.entries(e)) {
      if (!CONTEXT_ATTRIBUTES.has(k) && k !== 'data' && k !== 'data_base64' && v !== undefined && v !== null) {
        extensions[k] = typeof v === 'string' ? v : JSON.stringify(v);
      }
    }
    let data: unknown = e.data;
    const base64 = e.data_base64 !== undefined;
    if (base64) {
      if (typeof e.data_base64 !== 'string') throw new DetectionError('INVALID_DATA', 'data_base64 must be a string.');
      const compact = e.data_base64.replace(/\s+/g, '');
      if (!BASE64.test(compact)) throw new DetectionError('INVALID_DATA', 'data_base64 is not valid base64.');
      data = Buffer.from(compact, 'base64');
    }
    return {
      mode: 'structured',
      id: e.id as string,
      source: e.source as string,
      type: e.type as string,
      time: checkTime(e.time),
      subject: typeof e.subject === 'string' ? e.subject : undefined,
      datacontenttype: mediaType(typeof e.datacontenttype === 'string' ? e.datacontenttype : undefined),
      extensions,
      data,
      base64,
    };
  }

  const hasCeHeaders = Object.keys(req.headers).some((h) => h.toLowerCase().startsWith('ce-'));
  if (!hasCeHeaders) {
    throw invalid(
      'The request is not a CloudEvent: send ce-specversion, ce-id, ce-source and ce-type headers (binary mode) ' +
        'or a content-type of application/cloudevents+json (structured mode).',
    );
  }
  const attr = (name: string): string | undefined => header(req.headers, `ce-${name}`);
  checkRequired({ specversion: attr('specversion'), id: attr('id'), source: attr('source'), type: attr('type') });
  const extensions: Record<string, string> = {};
  for (const h of Object.keys(req.headers)) {
    const name = h.toLowerCase();
    if (name.startsWith('ce-') && !CONTEXT_ATTRIBUTES.has(name.slice(3)))
      extensions[name.slice(3)] = header(req.headers, h) ?? '';
  }
  return {
    mode: 'binary',
    id: attr('id')!,
    source: attr('source')!,
    type: attr('type')!,
    time: checkTime(attr('time')),
    subject: attr('subject'),
    datacontenttype: contentType,
    extensions,
    data: req.body,
    base64: false,
  };
}

/** WRONG_EVENT_TYPE unless the event is of the type this endpoint takes. */
export function expectEventType(event: CloudEvent, type: string, who: string): void {
  if (event.type !== type) {
    throw new DetectionError('WRONG_EVENT_TYPE', `The event type is "${event.type}"; ${who} takes "${type}".`);
  }
}
