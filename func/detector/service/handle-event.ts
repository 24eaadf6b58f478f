import { performance } from 'node:perf_hooks';
import { context, type Span } from '@opentelemetry/api';
import type { Headers } from '../../shared/cloudevent.js';
import { responseForError, type HttpResponse } from '../../shared/error-body.js';
import { DetectionError } from '../../shared/errors.js';
import type { Log } from '../../shared/logger.js';
import { markError, outgoingTraceHeaders, startServerSpan } from '../../shared/tracing.js';
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
 * service in a span that continues the caller's trace, counted in the metrics and logged, and every failure becomes
 * the contract's `{error, code}`.
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

export interface RequestResult {
  result: { outcome: DetectionOutcome } | { error: HttpResponse };
  /** traceparent (and tracestate) for whatever is sent on: this request's span, or the caller's when off. */
  trace: Record<string, string>;
}

/** Parses (`job` throws the contract's errors) and runs one request, with the in-flight gauge kept right. */
export async function runRequest(
  service: DetectionService,
  headers: Headers,
  job: () => DetectionJob,
  log: Log,
): Promise<RequestResult> {
  const t0 = performance.now();
  inflightRequests.inc();
  let parsed: DetectionJob | undefined;
  let parseError: unknown;
  try {
    parsed = job();
  } catch (err) {
    parseError = err;
  }
  // The span starts when the request did, in the trace the caller sent (header, or the event's extension).
  const { span, context: active } = startServerSpan('yolo.detect', headers, parsed?.traceContext, {
    startTime: performance.timeOrigin + t0,
    attributes: requestAttributes(service, parsed),
  });
  const onward = outgoingTraceHeaders(active);
  const traceHeaders = Object.keys(onward).length > 0 ? onward : passThrough(headers, parsed);
  try {
    const outcome = await context.with(active, async () => {
      if (parseError !== undefined) throw parseError;
      return service.track(() => service.detector().detect(parsed!));
    });
    observe(t0, 200, outcome);
    describeOutcome(span, outcome);
    log
      .child({ ceId: parsed!.requestId, ceSource: parsed!.requestSource })
      .info(
        { detections: outcome.record.detections.length, totalMs: outcome.record.timings.totalMs },
        'detection completed',
      );
    return { result: { outcome }, trace: traceHeaders };
  } catch (err) {
    // A run in flight when the inference worker died fails as that, not as an unexplained internal error.
    const life = service.liveness();
    const failure = life.ready ? err : new DetectionError('MODEL_UNAVAILABLE', life.reason);
    const error = failureResponse(failure, log);
    markError(span, failure instanceof DetectionError ? failure : new DetectionError('INTERNAL', String(failure)));
    span.setAttribute('http.response.status_code', error.status);
    observe(t0, error.status);
    return { result: { error }, trace: traceHeaders };
  } finally {
    span.end();
    inflightRequests.dec();
  }
}

function requestAttributes(service: DetectionService, job: DetectionJob | undefined): Record<string, string | boolean> {
  const attributes: Record<string, string | boolean> = { 'yolo.cold': service.takeCold() };
  const info = service.modelInfo();
  if (info) {
    attributes['yolo.model.name'] = info.name;
    attributes['yolo.model.sha256'] = info.sha256;
    attributes['yolo.model.provider'] = info.provider;
  }
  if (job) {
    // OpenTelemetry's CloudEvents conventions.
    attributes['cloudevents.event_id'] = job.requestId;
    attributes['cloudevents.event_source'] = job.requestSource;
  }
  return attributes;
}

function describeOutcome(span: Span, outcome: DetectionOutcome): void {
  const { record } = outcome;
  span.setAttributes({
    'http.response.status_code': 200,
    'yolo.image.width': record.image.width,
    'yolo.image.height': record.image.height,
    'yolo.detections': record.detections.length,
  });
}

/** With tracing off, the caller's trace context still goes on unchanged, so the Broker's trace is not cut. */
function passThrough(headers: Headers, job: DetectionJob | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['traceparent', 'tracestate']) {
    const value = headers[key] ?? job?.traceContext?.[key];
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}

/** POST / with a CloudEvent: the reply event, or the error. */
export async function handleDetectionEvent(
  service: DetectionService,
  headers: Headers,
  job: () => DetectionJob,
  log: Log,
): Promise<HttpResponse> {
  const { result, trace: traceHeaders } = await runRequest(service, headers, job, log);
  if ('error' in result) return result.error;
  const message = replyMessage(result.outcome.record, service.eventSource, traceHeaders);
  return { status: 200, headers: message.headers, body: message.body };
}
