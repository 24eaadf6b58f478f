/**
 * `npm run serve` and the container's command: the fastify server on PORT. The configuration is checked
 * first; the model loads in the background while liveness answers, and readiness turns true once it is loaded.
 * On SIGTERM it stops taking new requests, lets in-flight ones finish within SHUTDOWN_GRACE_SECONDS, and
 * exits 0.
 */
import { loadOrExit } from '../../shared/env.js';
import { createLogger } from '../../shared/logger.js';
import { shutdownTracing, startTracing } from '../../shared/tracing.js';
import { loadConfig } from '../service/config.js';
import { collectProcessMetrics } from '../service/metrics.js';
import { DetectionService } from '../service/service.js';

async function main(): Promise<void> {
  const config = loadOrExit('knative-yolo', loadConfig);
  const log = createLogger(config.logLevel, 'knative-yolo-server');
  await startTracing(config.tracing, 'knative-yolo-detector');
  log.info(`tracing: ${config.tracing.detail}`);
  collectProcessMetrics();
  const service = new DetectionService(config, log);
  // The model starts loading before the HTTP stack is even imported, so the two overlap: on a cold pod,
  // start → ready is the longer of the two, not their sum.
  void service.start();
  const { buildApp } = await import('./app.js');
  const app = await buildApp(service, log);
  await app.listen({ port: config.port, host: '::' });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, inflight: service.inflightCount() }, 'shutting down: finishing in-flight requests');
    const deadline = setTimeout(() => {
      log.warn({ inflight: service.inflightCount() }, 'grace period over; exiting with requests still running');
      process.exit(0);
    }, config.shutdownGraceMs + 1000);
    deadline.unref();
    const closed = app.close();
    await service.drain(config.shutdownGraceMs);
    // Keep-alive connections that go idle after close() began would hold it open until the client hangs up.
    const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
    app.server.closeIdleConnections();
    await closed;
    clearInterval(sweep);
    await service.close();
    await shutdownTracing();
    log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`knative-yolo: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
