import client from 'prom-client';

/** The logging service's metrics, in a registry of its own: it shares a package, not a process, with the detector. */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

export const eventsTotal = new client.Counter({
  name: 'yolo_log_events_total',
  help: 'Events received, by outcome: stored, duplicate, failure_stored, failure_duplicate, invalid, unavailable',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const writeDuration = new client.Histogram({
  name: 'yolo_log_write_duration_seconds',
  help: 'Time to store one event in the database',
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const requestErrorsTotal = new client.Counter({
  name: 'yolo_log_http_errors_total',
  help: 'Requests answered with an error status, by status',
  labelNames: ['status'] as const,
  registers: [registry],
});
