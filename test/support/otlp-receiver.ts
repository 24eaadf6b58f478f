import { createServer, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';

/**
 * An OTLP/HTTP trace receiver: what a collector's `otlphttp` receiver does, for the JSON encoding the exporter
 * sends (POST /v1/traces, ExportTraceServiceRequest). Spans are decoded from the wire, not taken from the SDK.
 */

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  status: { code: number; message?: string };
  service: string;
  startMs: number;
  endMs: number;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value: AnyValue };

const valueOf = (v: AnyValue): string | number | boolean =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? ''));
const attrs = (list: KeyValue[] | undefined): Record<string, string | number | boolean> =>
  Object.fromEntries((list ?? []).map((a) => [a.key, valueOf(a.value)]));

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  requests = 0;
  private server: Server | undefined;
  url = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        if (req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
          this.ingest(JSON.parse(body.toString('utf8')));
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this.url;
  }

  private ingest(request: {
    resourceSpans?: {
      resource?: { attributes?: KeyValue[] };
      scopeSpans?: { spans?: Record<string, unknown>[] }[];
    }[];
  }): void {
    for (const rs of request.resourceSpans ?? []) {
      const service = String(attrs(rs.resource?.attributes)['service.name'] ?? '');
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            traceId: s.traceId as string,
            spanId: s.spanId as string,
            parentSpanId: (s.parentSpanId as string) || undefined,
            name: s.name as string,
            kind: s.kind as number,
            attributes: attrs(s.attributes as KeyValue[]),
            status: (s.status as ReceivedSpan['status']) ?? { code: 0 },
            service,
            startMs: Number(BigInt(s.startTimeUnixNano as string) / 1000n) / 1000,
            endMs: Number(BigInt(s.endTimeUnixNano as string) / 1000n) / 1000,
          });
        }
      }
    }
  }

  /** Waits (up to `ms`) until `count` spans match. */
  async waitFor(match: (s: ReceivedSpan) => boolean, count = 1, ms = 5000): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.spans.filter(match);
      if (found.length >= count || Date.now() > deadline) return found;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
