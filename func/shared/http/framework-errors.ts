import type { ErrorCode } from '../errors.js';

/**
 * Errors raised by the HTTP frameworks themselves (fastify, @fastify/multipart, faas-js-runtime's CloudEvents
 * SDK) before the contract's own code runs, mapped to the contract's status and `{error, code}`.
 */
export interface FrameworkError {
  statusCode?: number;
  code?: string;
  message?: string;
  error?: string;
}

export function translateFrameworkError(err: FrameworkError, bodyLimit: number): [number, ErrorCode, string] {
  const status = err.statusCode ?? 500;
  const message = err.message ?? err.error ?? 'The request failed.';
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return [413, 'IMAGE_TOO_LARGE', `The request body is over the limit of ${bodyLimit} bytes.`];
    case 'FST_REQ_FILE_TOO_LARGE':
      return [413, 'IMAGE_TOO_LARGE', 'The uploaded image is over the size limit (MAX_IMAGE_BYTES).'];
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return [
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        'This route does not take that content type: POST /detect takes multipart/form-data, POST / a CloudEvent.',
      ];
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return [400, 'INVALID_DATA', `The form has too many parts: ${message}`];
    case 'FST_ERR_VALIDATION':
      return [400, 'INVALID_QUERY', `The request is invalid: ${message}.`];
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return [400, 'INVALID_DATA', 'The request body is empty; expected JSON.'];
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return [400, 'INVALID_DATA', `The request body is malformed: ${message}`];
    default:
      break;
  }
  if (status === 404) return [404, 'NOT_FOUND', message.endsWith('.') ? message : `${message}.`];
  if (status === 405) return [405, 'METHOD_NOT_ALLOWED', message];
  if (status === 400 && /JSON/i.test(message)) {
    return [400, 'INVALID_DATA', `The request body is not valid JSON: ${message}`];
  }
  if (status >= 400 && status < 500 && !/invalid payload|spec version/i.test(message)) {
    return [status, 'INVALID_REQUEST', message.endsWith('.') ? message : `${message}.`];
  }
  // What remains is the CloudEvents SDK's validation, which reports a JSON schema failure: name the
  // missing attribute when there is one.
  const missing = /"missingProperty":"([a-z0-9]+)"/.exec(message)?.[1];
  if (missing) return [400, 'INVALID_CLOUDEVENT', `The CloudEvent has no ${missing}.`];
  return [400, 'INVALID_CLOUDEVENT', `The CloudEvent is invalid: ${message.split('\n')[0]}.`];
}
