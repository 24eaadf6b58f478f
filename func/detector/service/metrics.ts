import client from 'prom-client';

/**
 * The service's metrics, in prom-client's default registry, with the same names whichever adapter serves
 * them. Buckets span a cold GPU's first call to a CPU's large image.
 */
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const inferenceDuration = new client.Histogram({
  name: 'yolo_inference_duration_seconds',
  help: 'Time spent in session.run per image',
  buckets: SECONDS,
});

export const batchSize = new client.Histogram({
  name: 'yolo_batch_size',
  help: 'Images per session.run when micro-batching is on (MAX_BATCH > 1 and a dynamic batch axis)',
  buckets: [1, 2, 4, 8, 16, 32, 64],
});

export const requestDuration = new client.Histogram({
  name: 'yolo_request_duration_seconds',
  help: 'Time from a detection request to its reply',
  labelNames: ['outcome'] as const,
  buckets: SECONDS,
});

export const requestsTotal = new client.Counter({
  name: 'yolo_requests_total',
  help: 'Detection requests by outcome (success, client_error, server_error) and HTTP status code',
  labelNames: ['outcome', 'code'] as const,
});

export const detectionsTotal = new client.Counter({
  name: 'yolo_detections_total',
  help: 'Objects detected, by label',
  labelNames: ['label'] as const,
});

export const modelLoadSeconds = new client.Gauge({
  name: 'yolo_model_load_seconds',
  help: 'Time to read, verify and load the model (and warm it up, on a GPU)',
});

export const inflightRequests = new client.Gauge({
  name: 'yolo_inflight_requests',
  help: 'Detection requests being processed now',
});

export const modelInfo = new client.Gauge({
  name: 'yolo_model_info',
  help:
    'The model being served (value 1); fallback="true" when a preferred execution provider was unavailable; ' +
    'ops_off_provider lists operators the provider has no kernel for, which run on the CPU',
  labelNames: ['name', 'sha256', 'provider', 'fallback', 'ops_off_provider'] as const,
});

let defaultsCollected = false;
/** Process metrics (CPU, memory, event loop lag) once per process. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  client.collectDefaultMetrics();
}

export const registry = client.register;

export function outcomeOf(status: number): 'success' | 'client_error' | 'server_error' {
  return status < 400 ? 'success' : status < 500 ? 'client_error' : 'server_error';
}
