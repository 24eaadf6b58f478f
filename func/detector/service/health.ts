import { errorResponse, jsonResponse, type HttpResponse } from '../../shared/error-body.js';
import type { DetectionService } from './service.js';

/**
 * 200 once the model is loaded (and warmed up, on a GPU); otherwise 503 with the reason, for `kubectl describe pod`.
 */
export function readinessResponse(service: DetectionService | undefined): HttpResponse {
  const life = service?.liveness();
  if (life && !life.ready) return errorResponse('MODEL_UNAVAILABLE', life.reason);
  const state = service?.readiness() ?? { ready: false, reason: 'The service has not been initialised.' };
  if (state.ready) return jsonResponse(200, { status: 'ready' });
  return errorResponse('MODEL_NOT_READY', state.reason);
}

/** 200 while the process can still serve; 503 once its model can no longer run, so the kubelet restarts it. */
export function livenessResponse(service: DetectionService | undefined): HttpResponse {
  const state = service?.liveness() ?? { ready: true };
  return state.ready ? jsonResponse(200, { status: 'alive' }) : errorResponse('MODEL_UNAVAILABLE', state.reason);
}
