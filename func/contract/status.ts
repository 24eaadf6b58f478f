import type { DetectionErrorCode } from '../core/errors.js';

/**
 * HTTP status for each failure. Permanent faults of the request are 4xx, so a Broker dead-letters them;
 * faults of the service or its volumes are 5xx, so a Broker retries them.
 */
export const STATUS: Readonly<Record<DetectionErrorCode, number>> = {
  INVALID_CLOUDEVENT: 400,
  WRONG_EVENT_TYPE: 400,
  INVALID_OPTION: 400,
  INVALID_DATA: 400,
  MISSING_IMAGE: 400,
  UNDECODABLE_IMAGE: 400,
  CONTENT_TYPE_MISMATCH: 400,
  INVALID_PATH: 400,
  INPUT_NOT_FOUND: 400,
  IMAGE_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  MODEL_NOT_READY: 503,
  OUTPUT_UNAVAILABLE: 503,
  INPUT_UNAVAILABLE: 503,
  INTERNAL: 500,
};

export interface ErrorBody {
  error: string;
  code: string;
}
