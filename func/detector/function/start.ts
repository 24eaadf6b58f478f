/**
 * `npm start`: faas-js-runtime serving the function on PORT, as `func run` and the Knative builders do,
 * with the configuration checked first so a bad value stops the process with a message, not a stack trace.
 */
import type { Server } from 'node:http';
import { loadOrExit } from '../../shared/env.js';
import { startTracing } from '../../shared/tracing.js';
import { loadConfig } from '../service/config.js';

/**
 * faas-js-runtime's published types give health checks HTTP/2 types and log levels as a numeric enum; at run
 * time it passes fastify's request and reply and takes pino's level names. This is the signature it has.
 */
type StartRuntime = (func: object, options: { port: number; logLevel: string; bodyLimit: number }) => Promise<Server>;

// The runtime reads METRICS_URL when it is first imported; /metrics itself is served from our registry.
process.env.METRICS_URL ??= '/metrics/runtime';

async function main(): Promise<void> {
  const config = loadOrExit('knative-yolo', loadConfig);
  // Registered before the function module loads, so its first request is traced.
  await startTracing(config.tracing, 'knative-yolo-detector');
  const [runtime, func, { installFront }, { collectProcessMetrics }, { bodyLimitFor }] = await Promise.all([
    import('faas-js-runtime'),
    import('./index.js'),
    import('./runtime-fixes.js'),
    import('../service/metrics.js'),
    import('../service/body-limit.js'),
  ]);
  collectProcessMetrics();
  const bodyLimit = bodyLimitFor(config.maxImageBytes);
  const runtimeLogLevel = config.logLevel === 'silent' ? 'fatal' : config.logLevel;
  // A CommonJS package: its exports arrive on `default` when imported from ESM.
  const start = (runtime as unknown as { default: { start: StartRuntime } }).default.start;
  const server = await start(func, { port: config.port, logLevel: runtimeLogLevel, bodyLimit });
  installFront(server, bodyLimit);
}

main().catch((err: unknown) => {
  process.stderr.write(`knative-yolo: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
