import { trace, type ProxyTracerProvider } from '@opentelemetry/api';
import t from 'tap';
import { ConfigError } from '../../func/shared/env.js';
import { loadTracingConfig, startTracing, tracer } from '../../func/shared/tracing.js';

t.test('tracing is on only with an OTLP endpoint, and OTEL_TRACES_EXPORTER=none turns it off', async (t) => {
  t.match(loadTracingConfig({}), { enabled: false, detail: /no OTEL_EXPORTER_OTLP_ENDPOINT/ });
  t.match(loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), { enabled: true });
  t.match(loadTracingConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }), { enabled: true });
  t.match(loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }), {
    enabled: false,
  });
  t.throws(() => loadTracingConfig({ OTEL_TRACES_EXPORTER: 'zipkin' }), ConfigError);
  t.throws(() => loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), /must be an http/);
});

t.test('off, no SDK is registered: spans are the API no-op, recording nothing', async (t) => {
  await startTracing(loadTracingConfig({}), 'test');
  const span = tracer.startSpan('nothing');
  t.equal(span.isRecording(), false);
  t.equal(span.spanContext().traceId, '00000000000000000000000000000000', 'no trace id: no provider behind it');
  span.end();
  const provider = trace.getTracerProvider() as ProxyTracerProvider;
  t.equal(provider.getDelegate().constructor.name, 'NoopTracerProvider', 'the API default is never replaced');
});
