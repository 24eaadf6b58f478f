import { errorResponse, jsonResponse, type HttpResponse } from '../../shared/error-body.js';
import type { DetectionService } from './service.js';

/** 200 once the model is loaded and warmed up; otherwise 503 with the reason, for `kubectl describe pod`. */
export function readinessResponse(service: DetectionService | undefined): HttpResponse {
  const state = service?.readiness() ?? { ready: false, reason: 'The service has not been initialised.' };
  if (state.ready) return jsonResponse(200, { status: 'ready' });
  return errorResponse('MODEL_NOT_READY', state.reason);
}

export function livenessResponse(): HttpResponse {
  return jsonResponse(200, { status: 'alive' });
}
