import { performance } from 'node:perf_hooks';
import { responseForError, type HttpResponse } from '../../shared/error-body.js';
import { DetectionError } from '../../shared/errors.js';
import type { Log } from '../../shared/logger.js';
import type { DetectionJob, DetectionOutcome } from '../core/detector.js';
import { replyMessage } from '../contract/reply.js';
import {
  detectionsTotal,
  inferenceDuration,
  inflightRequests,
  outcomeOf,
  requestDuration,
  requestsTotal,
} from './metrics.js';
import type { DetectionService } from './service.js';

/**
 * Running one request, for every adapter: the job is parsed (by the adapter's contract call), run on the
 * service, counted in the metrics and logged, and every failure becomes the contract's `{error, code}`.
 */

/** The error response for a failure, logged at the level its status deserves. */
export function failureResponse(err: unknown, log: Log): HttpResponse {
  const response = responseForError(err);
  if (response.status >= 500) log.error({ err, cause: (err as Error)?.cause }, (err as Error)?.message ?? String(err));
  else log.info({ code: (err as DetectionError).code }, (err as Error).message);
  return response;
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

/** Parses (`job` throws the contract's errors) and runs one request, with the in-flight gauge kept right. */
export async function runRequest(
  service: DetectionService,
  job: () => DetectionJob,
  log: Log,
): Promise<{ outcome: DetectionOutcome } | { error: HttpResponse }> {
  const t0 = performance.now();
  inflightRequests.inc();
  try {
    const parsed = job();
    const outcome = await service.track(() => service.detector().detect(parsed));
    observe(t0, 200, outcome);
    log
      .child({ ceId: parsed.requestId, ceSource: parsed.requestSource })
      .info(
        { detections: outcome.record.detections.length, totalMs: outcome.record.timings.totalMs },
        'detection completed',
      );
    return { outcome };
  } catch (err) {
    // A run in flight when the inference worker died fails as that, not as an unexplained internal error.
    const life = service.liveness();
    const error = failureResponse(life.ready ? err : new DetectionError('MODEL_UNAVAILABLE', life.reason), log);
    observe(t0, error.status);
    return { error };
  } finally {
    inflightRequests.dec();
  }
}

/** POST / with a CloudEvent: the reply event, or the error. */
export async function handleDetectionEvent(
  service: DetectionService,
  job: () => DetectionJob,
  log: Log,
): Promise<HttpResponse> {
  const result = await runRequest(service, job, log);
  if ('error' in result) return result.error;
  const message = replyMessage(result.outcome.record, service.eventSource);
  return { status: 200, headers: message.headers, body: message.body };
}
