import type { CloudEvent } from 'cloudevents';
import type { Context } from 'faas-js-runtime';
import { createLogger, type Log } from '../../shared/logger.js';
import { shutdownTracing } from '../../shared/tracing.js';
import { jobFromEvent } from '../contract/request.js';
import { loadConfig } from '../service/config.js';
import { handleDetectionEvent } from '../service/handle-event.js';
import { livenessResponse, readinessResponse } from '../service/health.js';
import { DetectionService } from '../service/service.js';
import { eventFromRuntime } from './runtime-fixes.js';

/**
 * The Knative Function: one `handle` export plus the lifecycle hooks faas-js-runtime looks for. Everything
 * here is plumbing: the contract lives in ../contract, the service in ../service, the detector in ../core.
 */

let service: DetectionService | undefined;
let log: Log | undefined;

/** faas-js-runtime awaits init before listening; loading runs on in the background so liveness answers at once. */
export function init(): void {
  const config = loadConfig();
  log = createLogger(config.logLevel, 'knative-yolo-function');
  log.info(`tracing: ${config.tracing.detail}`);
  service = new DetectionService(config, log);
  void service.start();
}

export async function handle(context: Context, event?: CloudEvent<unknown>) {
  if (!service || !log) init();
  const r = await handleDetectionEvent(
    service!,
    context.headers,
    () => jobFromEvent(eventFromRuntime(context, event)),
    log!.child({ reqId: context.headers['x-request-id'] }),
  );
  return { statusCode: r.status, headers: r.headers, body: r.body };
}

interface HealthReply {
  code(status: number): HealthReply;
  headers(values: Record<string, string>): HealthReply;
  send(body: string | Buffer): unknown;
}

/** faas-js-runtime mounts these as fastify routes at /health/readiness and /health/liveness. */
export function readiness(_request: unknown, reply: HealthReply): void {
  const r = readinessResponse(service);
  reply.code(r.status).headers(r.headers).send(r.body);
}

export function liveness(_request: unknown, reply: HealthReply): void {
  const r = livenessResponse(service);
  reply.code(r.status).headers(r.headers).send(r.body);
}

/** Called on SIGTERM before the server closes: let in-flight detections finish, within the grace period. */
export async function shutdown(): Promise<void> {
  if (!service) return;
  const left = await service.drain(service.config.shutdownGraceMs);
  if (left > 0) log?.warn({ left }, 'grace period over with detections still running');
  await service.close();
  await shutdownTracing();
}
