import { DetectionError, type ErrorCode } from './errors.js';

/**
 * HTTP status for each failure. Permanent faults of the request are 4xx, so a Broker dead-letters them;
 * faults of the service or its volumes are 5xx, so a Broker retries them.
 */
export const STATUS: Readonly<Record<ErrorCode, number>> = {
  INVALID_CLOUDEVENT: 400,
  WRONG_EVENT_TYPE: 400,
  INVALID_OPTION: 400,
  INVALID_DATA: 400,
  INVALID_QUERY: 400,
  INVALID_REQUEST: 400,
  MISSING_IMAGE: 400,
  UNDECODABLE_IMAGE: 400,
  CONTENT_TYPE_MISMATCH: 400,
  INVALID_PATH: 400,
  INPUT_NOT_FOUND: 400,
  IMAGE_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  MODEL_NOT_READY: 503,
  MODEL_UNAVAILABLE: 503,
  OUTPUT_UNAVAILABLE: 503,
  INPUT_UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
  NOT_READY: 503,
  INTERNAL: 500,
};

/** The body of every error reply, from every service. */
export interface ErrorBody {
  error: string;
  code: ErrorCode;
}

export const JSON_TYPE = 'application/json; charset=utf-8';

/** A transport-neutral HTTP response: each adapter writes it out with its own framework. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The one builder of `{error, code}`. */
export function errorBody(code: ErrorCode, error: string): ErrorBody {
  return { error, code };
}

/** `{error, code}` with the status its code gives, as a response any adapter can send. */
export function errorResponse(code: ErrorCode, error: string, status: number = STATUS[code]): HttpResponse {
  return { status, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(errorBody(code, error)) };
}

export function jsonResponse(status: number, body: unknown): HttpResponse {
  return { status, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(body) };
}

/** The response for a thrown error: a DetectionError keeps its code; anything else is INTERNAL, with no detail. */
export function responseForError(err: unknown): HttpResponse {
  if (err instanceof DetectionError && err.code !== 'INTERNAL') return errorResponse(err.code, err.message);
  return errorResponse('INTERNAL', 'The service failed unexpectedly; the error has been logged.');
}
