import type { Context } from 'faas-js-runtime';
import type { Log } from '../logger.js';
import { loadConfig } from '../config.js';
import { handleDetectionEvent } from '../contract/handler.js';
import { livenessResponse, readinessResponse } from '../contract/health.js';
import { createLogger } from '../logger.js';
import { DetectionService } from '../service.js';

/**
 * The Knative Function: one `handle` export plus the lifecycle hooks faas-js-runtime looks for. Everything
 * here is plumbing; the contract lives in ../contract and the detector in ../core.
 */

let service: DetectionService | undefined;
let log: Log | undefined;

/** faas-js-runtime awaits init before listening; loading runs on in the background so liveness answers at once. */
export function init(): void {
  const config = loadConfig();
  log = createLogger(config.logLevel, 'knative-yolo-function');
  service = new DetectionService(config, log);
  void service.start();
}

interface HttpReturn {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * faas-js-runtime passes a parsed CloudEvent when its SDK recognises one; the contract re-reads the raw
 * headers and body instead, so that both adapters accept and reject exactly the same requests.
 */
export async function handle(context: Context): Promise<HttpReturn> {
  if (!service || !log) init();
  const response = await handleDetectionEvent(
    service!,
    { headers: context.headers, body: context.body },
    log!.child({ reqId: context.headers['x-request-id'] }),
  );
  return {
    statusCode: response.status,
    headers: response.headers,
    body: response.body,
  };
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
  const r = livenessResponse();
  reply.code(r.status).headers(r.headers).send(r.body);
}

/** Called on SIGTERM before the server closes: let in-flight detections finish, within the grace period. */
export async function shutdown(): Promise<void> {
  if (!service) return;
  const left = await service.drain(service.config.shutdownGraceMs);
  if (left > 0) log?.warn({ left }, 'grace period over with detections still running');
  await service.close();
}
