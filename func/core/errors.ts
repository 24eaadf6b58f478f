/**
 * The failures the core can report, each with a stable code. The core knows nothing of HTTP: the request
 * contract maps each code to a status, so every adapter answers the same failure the same way.
 */
export type DetectionErrorCode =
  | 'INVALID_CLOUDEVENT'
  | 'WRONG_EVENT_TYPE'
  | 'INVALID_OPTION'
  | 'INVALID_DATA'
  | 'MISSING_IMAGE'
  | 'UNDECODABLE_IMAGE'
  | 'CONTENT_TYPE_MISMATCH'
  | 'INVALID_PATH'
  | 'INPUT_NOT_FOUND'
  | 'IMAGE_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'MODEL_NOT_READY'
  | 'OUTPUT_UNAVAILABLE'
  | 'INPUT_UNAVAILABLE'
  | 'INTERNAL';

export class DetectionError extends Error {
  override name = 'DetectionError';
  constructor(
    readonly code: DetectionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
