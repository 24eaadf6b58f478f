import { performance } from 'node:perf_hooks';
import type { Log } from '../logger.js';
import type { DetectionJob, DetectionOutcome } from '../core/detector.js';
import { DetectionError } from '../core/errors.js';
import {
  detectionsTotal,
  inferenceDuration,
  inflightRequests,
  outcomeOf,
  requestDuration,
  requestsTotal,
} from '../metrics.js';
import type { DetectionService } from '../service.js';
import { replyMessage } from './reply.js';
import { parseDetectionRequest, type HttpRequestLike } from './request.js';
import { STATUS, type ErrorBody } from './status.js';

/** A transport-neutral HTTP response: each adapter writes it out with its own framework. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';

export function errorResponse(err: unknown, log: Log): HttpResponse {
  let status = 500;
  let body: ErrorBody = { error: 'The detector failed unexpectedly; the error has been logged.', code: 'INTERNAL' };
  if (err instanceof DetectionError) {
    status = STATUS[err.code];
    if (err.code !== 'INTERNAL') body = { error: err.message, code: err.code };
  }
  if (status >= 500) log.error({ err, cause: (err as Error)?.cause }, body.error);
  else log.info({ code: body.code }, body.error);
  return { status, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(body) };
}

/** Records the request's metrics from its status, however it ended. */
function observe(t0: number, status: number, outcome?: DetectionOutcome): void {
  const result = outcomeOf(status);
  requestDuration.observe({ outcome: result }, (performance.now() - t0) / 1000);
  requestsTotal.inc({ outcome: result, code: String(status) });
  if (outcome) {
    inferenceDuration.observe(outcome.record.timings.inferenceMs / 1000);
    for (const d of outcome.record.detections) detectionsTotal.inc({ label: d.label });
  }
}

/** Runs a job with the in-flight gauge kept right however it ends. Throws DetectionError. */
export async function runJob(service: DetectionService, job: DetectionJob): Promise<DetectionOutcome> {
  inflightRequests.inc();
  try {
    return await service.track(() => service.detector().detect(job));
  } finally {
    inflightRequests.dec();
  }
}

/** POST / with a CloudEvent: the whole contract, from raw request to reply event or error. */
export async function handleDetectionEvent(
  service: DetectionService,
  req: HttpRequestLike,
  log: Log,
): Promise<HttpResponse> {
  const t0 = performance.now();
  let response: HttpResponse;
  let outcome: DetectionOutcome | undefined;
  try {
    const job = parseDetectionRequest(req);
    log = log.child({ ceId: job.requestId, ceSource: job.requestSource });
    outcome = await runJob(service, job);
    const message = replyMessage(outcome.record, service.eventSource);
    response = { status: 200, headers: message.headers, body: message.body };
    log.info(
      { detections: outcome.record.detections.length, totalMs: outcome.record.timings.totalMs },
      'detection completed',
    );
  } catch (err) {
    response = errorResponse(err, log);
  }
  observe(t0, response.status, outcome);
  return response;
}

/** For adapters that run jobs outside the CloudEvent path (multipart upload): same metrics, same errors. */
export async function handleJob(
  service: DetectionService,
  job: () => DetectionJob,
  log: Log,
): Promise<{ outcome: DetectionOutcome } | { error: HttpResponse }> {
  const t0 = performance.now();
  try {
    const outcome = await runJob(service, job());
    observe(t0, 200, outcome);
    return { outcome };
  } catch (err) {
    const error = errorResponse(err, log);
    observe(t0, error.status);
    return { error };
  }
}
