import {
  expectEventType,
  isJsonType,
  parseJson,
  readCloudEvent,
  toBuffer,
  type CloudEvent,
  type HttpRequestLike,
} from '../../shared/cloudevent.js';
import { DetectionError } from '../../shared/errors.js';
import { REQUEST_TYPE } from '../../shared/record.js';
import { IMAGE_CONTENT_TYPES } from '../core/decode.js';
import type { DetectionJob, ImageInput } from '../core/detector.js';
import { validateOptions } from './options.js';

/**
 * The request half of the contract: an HTTP request (headers and raw body), or an envelope the function's
 * runtime read, in; a validated DetectionJob out. Both adapters call this, so binary, structured and path events
 * are parsed, and rejected, one way.
 */

function pathInput(data: unknown): { input: ImageInput; options: DetectionJob['options'] } {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new DetectionError(
      'INVALID_DATA',
      'The event data must be a JSON object such as {"path": "uploads/bus.jpg"}.',
    );
  }
  const { path, ...rest } = data as Record<string, unknown>;
  if (path === undefined) throw new DetectionError('INVALID_DATA', 'The event data has no "path".');
  if (typeof path !== 'string') throw new DetectionError('INVALID_PATH', 'The "path" must be a string.');
  return { input: { kind: 'path', path }, options: validateOptions(rest) };
}

function imageInput(bytes: Buffer | undefined, contentType: string): ImageInput {
  if (!bytes || bytes.length === 0) throw new DetectionError('MISSING_IMAGE', 'The event carries no image data.');
  return { kind: 'bytes', bytes, contentType };
}

function checkImageType(type: string): void {
  if (!(type in IMAGE_CONTENT_TYPES)) {
    throw new DetectionError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content type ${type} is not supported; send ${Object.keys(IMAGE_CONTENT_TYPES).join(', ')} ` +
        'or application/json with {"path": ...}.',
    );
  }
}

/** The distributed-tracing extension's attributes (CloudEvents extensions/distributed-tracing.md). */
function traceExtension(extensions: Readonly<Record<string, string>>): Record<string, string> | undefined {
  const { traceparent, tracestate } = extensions;
  if (traceparent === undefined) return undefined;
  return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
}

/** Parses and validates a detection request from an HTTP CloudEvent, binary or structured. */
export function parseDetectionRequest(req: HttpRequestLike): DetectionJob {
  return jobFromEvent(readCloudEvent(req));
}

/** The job a detection request event asks for; the envelope is already read and checked. */
export function jobFromEvent(event: CloudEvent): DetectionJob {
  expectEventType(event, REQUEST_TYPE, 'this service');
  const base = {
    requestId: event.id,
    requestSource: event.source,
    time: event.time,
    traceContext: traceExtension(event.extensions),
  };
  const dct = event.datacontenttype;

  if (event.mode === 'structured') {
    if (event.base64) {
      if (dct === undefined) {
        throw new DetectionError('INVALID_CLOUDEVENT', 'A structured event with data_base64 needs a datacontenttype.');
      }
      checkImageType(dct);
      return { ...base, input: imageInput(event.data as Buffer, dct), options: {} };
    }
    if (isJsonType(dct)) return { ...base, ...pathInput(event.data) };
    if (dct && dct in IMAGE_CONTENT_TYPES) {
      throw new DetectionError('INVALID_DATA', 'A structured event carries image bytes in data_base64, not data.');
    }
    throw new DetectionError('UNSUPPORTED_MEDIA_TYPE', `datacontenttype ${dct} is not supported.`);
  }

  if (dct === undefined) {
    throw new DetectionError(
      'UNSUPPORTED_MEDIA_TYPE',
      'The request has no content-type; send an image type or application/json.',
    );
  }
  if (isJsonType(dct)) return { ...base, ...pathInput(parseJson(event.data, 'The event data')) };
  checkImageType(dct);
  return { ...base, input: imageInput(toBuffer(event.data), dct), options: {} };
}
