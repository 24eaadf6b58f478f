/**
 * The one error vocabulary of every program here: each failure has a stable code, and the code alone decides
 * the HTTP status (see error-body.ts). The core throws these without knowing of HTTP.
 */
export const ERROR_CODES = [
  // The request is at fault: permanent, so a Broker dead-letters it.
  'INVALID_CLOUDEVENT',
  'WRONG_EVENT_TYPE',
  'INVALID_OPTION',
  'INVALID_DATA',
  'INVALID_QUERY',
  'INVALID_REQUEST',
  'MISSING_IMAGE',
  'UNDECODABLE_IMAGE',
  'CONTENT_TYPE_MISMATCH',
  'INVALID_PATH',
  'INPUT_NOT_FOUND',
  'IMAGE_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  // The service or its volumes are at fault: retryable.
  'MODEL_NOT_READY',
  'MODEL_UNAVAILABLE',
  'OUTPUT_UNAVAILABLE',
  'INPUT_UNAVAILABLE',
  'DATABASE_UNAVAILABLE',
  'NOT_READY',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class DetectionError extends Error {
  override name = 'DetectionError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
