import {
  context,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  type Context,
  type Span,
  type SpanOptions,
  type TextMapGetter,
} from '@opentelemetry/api';
import { ConfigError, raw, type Env } from './env.js';

/**
 * OpenTelemetry tracing for every program, configured only by the standard variables. This module decides whether
 * tracing is on (an OTLP endpoint is set and OTEL_TRACES_EXPORTER is not `none`); the SDK reads the rest itself
 * (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_EXPORTER_OTLP_*). Off, nothing
 * of the SDK is even imported: the API's no-op tracer is all that runs, and spans cost a function call each.
 */

export interface TracingConfig {
  enabled: boolean;
  /** Where spans go, or why tracing is off, for the start-up log line. */
  detail: string;
}

export const TRACING_VARIABLES = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_TRACES_EXPORTER',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_TRACES_SAMPLER',
  'OTEL_BSP_SCHEDULE_DELAY',
] as const;

export function loadTracingConfig(env: Env): TracingConfig {
  const exporter = raw(env, 'OTEL_TRACES_EXPORTER')?.toLowerCase() ?? 'otlp';
  if (exporter !== 'otlp' && exporter !== 'none') {
    throw new ConfigError('OTEL_TRACES_EXPORTER', `must be otlp or none, got "${exporter}"`);
  }
  const endpoint = raw(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? raw(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (exporter === 'none') return { enabled: false, detail: 'off: OTEL_TRACES_EXPORTER=none' };
  if (endpoint === undefined) return { enabled: false, detail: 'off: no OTEL_EXPORTER_OTLP_ENDPOINT' };
  if (!/^https?:\/\//.test(endpoint)) {
    throw new ConfigError('OTEL_EXPORTER_OTLP_ENDPOINT', `must be an http:// or https:// URL, got "${endpoint}"`);
  }
  return { enabled: true, detail: `OTLP/HTTP to ${endpoint}` };
}

let registered: { shutdown(): Promise<void> } | undefined;

/** Flushes the spans still queued and stops the exporter; a no-op when tracing is off. Call before exiting. */
export async function shutdownTracing(): Promise<void> {
  await registered?.shutdown();
  registered = undefined;
}

/** Registers the SDK when tracing is on; otherwise leaves the API's no-op tracer in place. */
export async function startTracing(config: TracingConfig, serviceName: string): Promise<void> {
  if (!config.enabled || registered) return;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, resources] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  // The program's name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': serviceName }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  // The W3C Trace Context propagator and an AsyncLocalStorage context manager, so spans follow awaits.
  provider.register();
  registered = provider;
}

export const tracer = trace.getTracer('knative-yolo');

const headerGetter: TextMapGetter<Readonly<Record<string, string | string[] | undefined>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/**
 * The context an incoming request continues: its `traceparent`/`tracestate` HTTP headers (what a Broker sends), or
 * else the CloudEvents distributed-tracing extension of the event (a structured event's `traceparent` attribute).
 */
export function incomingContext(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  extensions: Readonly<Record<string, string>> = {},
): Context {
  const carrier = headers.traceparent !== undefined ? headers : extensions;
  return propagation.extract(context.active(), carrier, headerGetter);
}

/**
 * The server span of one incoming request, a child of the trace it carries (see incomingContext), and the context
 * to run its work in so that its steps become its children.
 */
export function startServerSpan(
  name: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  extensions: Readonly<Record<string, string>> | undefined,
  options: Omit<SpanOptions, 'kind'> = {},
): { span: Span; context: Context } {
  const parent = incomingContext(headers, extensions);
  const span = tracer.startSpan(name, { ...options, kind: SpanKind.SERVER }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** `traceparent` (and `tracestate`) for an outgoing message, from the given context. */
export function outgoingTraceHeaders(ctx: Context): Record<string, string> {
  const out: Record<string, string> = {};
  propagation.inject(ctx, out);
  return out;
}

/** Runs `work` in a child span of the active one; an error marks the span and is rethrown. */
export async function inSpan<T>(name: string, work: (span: Span) => Promise<T>, options: SpanOptions = {}): Promise<T> {
  return tracer.startActiveSpan(name, options, async (span) => {
    try {
      return await work(span);
    } catch (err) {
      markError(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The span's status is ERROR, described by the contract's error code when there is one. */
export function markError(span: Span, err: unknown): void {
  const code = (err as { code?: unknown })?.code;
  span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : (err as Error)?.message });
  if (typeof code === 'string') span.setAttribute('yolo.error.code', code);
}
