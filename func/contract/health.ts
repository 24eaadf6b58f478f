import type { DetectionService } from '../service.js';
import type { HttpResponse } from './handler.js';

const JSON_TYPE = 'application/json; charset=utf-8';

/** 200 once the model is loaded and warmed up; otherwise 503 with the reason, for `kubectl describe pod`. */
export function readinessResponse(service: DetectionService | undefined): HttpResponse {
  const state = service?.readiness() ?? { ready: false, reason: 'The service has not been initialised.' };
  if (state.ready) return { status: 200, headers: { 'content-type': JSON_TYPE }, body: '{"status":"ready"}' };
  return {
    status: 503,
    headers: { 'content-type': JSON_TYPE },
    body: JSON.stringify({ error: state.reason, code: 'MODEL_NOT_READY' }),
  };
}

export function livenessResponse(): HttpResponse {
  return { status: 200, headers: { 'content-type': JSON_TYPE }, body: '{"status":"alive"}' };
}
