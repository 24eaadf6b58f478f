import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js';
import { IMAGES, ROOT, YOLOV8N } from './support/paths.js';
import { scratchDir, scratchVolumes } from './support/scratch.js';
import { binaryEvent, startServer, type Target } from './support/server-process.js';

/**
 * One trace from the Broker through detection to the stored record, checked on the wire: a real OTLP/HTTP receiver
 * in this process decodes what the services' exporters send.
 */

const PARENT = '00f067aa0ba902b7';
const traceparent = (trace: string, parent = PARENT): string => `00-${trace}-${parent}-01`;
const STEPS = ['decode', 'preprocess', 'model.wait', 'inference', 'postprocess', 'annotate', 'write'];

const receiver = new OtlpReceiver();
await receiver.start();
t.teardown(() => receiver.close());
const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
const otel = (extra: Record<string, string> = {}) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_BSP_SCHEDULE_DELAY: '50',
  ...extra,
});

async function detector(t: Test, target: Target, env: Record<string, string>) {
  const { input, output } = await scratchVolumes(t, `kyolo-trace-${target}-`);
  const server = await startServer(target, {
    env: { MODEL_PATH: YOLOV8N, INPUT_DIR: input, OUTPUT_DIR: output, LOG_LEVEL: 'info', ...env },
  });
  t.teardown(() => server.stop('SIGKILL'));
  return server;
}

const inTrace =
  (trace: string, name?: string) =>
  (s: ReceivedSpan): boolean =>
    s.traceId === trace && (name === undefined || s.name === name);

for (const [target, TRACE] of [
  ['server', '4bf92f3577b34da6a3ce929d0e0e4736'],
  ['function', '4bf92f3577b34da6a3ce929d0e0e4740'],
] as const) {
  t.test(`${target}: the request continues the Broker's traceparent, with a span per step`, async (t) => {
    const server = await detector(t, target, otel());
    const res = await fetch(
      server.url + '/',
      binaryEvent('traced-1', bus, 'image/jpeg', { traceparent: traceparent(TRACE) }),
    );
    t.equal(res.status, 200);
    const onward = res.headers.get('traceparent') ?? '';
    t.match(onward, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`), 'the reply carries the trace on (W3C header)');
    t.equal(res.headers.get('ce-traceparent'), onward, 'and as the distributed-tracing extension');

    const [request] = await receiver.waitFor(inTrace(TRACE, 'yolo.detect'));
    t.ok(request, 'the request span arrived');
    t.equal(request!.parentSpanId, PARENT, "its parent is the Broker's span");
    t.equal(onward.split('-')[2], request!.spanId, 'the reply names the request span as parent');
    t.equal(request!.service, 'knative-yolo-detector');
    t.match(request!.attributes, {
      'yolo.model.name': 'yolov8n-coco-int8-640',
      'yolo.model.provider': 'cpu',
      'yolo.image.width': 810,
      'yolo.image.height': 1080,
      'yolo.cold': true,
      'cloudevents.event_id': 'traced-1',
      'http.response.status_code': 200,
    });
    t.match(String(request!.attributes['yolo.model.sha256']), /^8c6f0ca5/);
    t.ok(Number(request!.attributes['yolo.detections']) >= 4, 'the number of detections');
    const children = await receiver.waitFor((s) => s.parentSpanId === request!.spanId, STEPS.length);
    t.same(children.map((s) => s.name).sort(), [...STEPS].sort(), 'one child span per step');
    for (const c of children) {
      t.ok(c.startMs >= request!.startMs - 1 && c.endMs <= request!.endMs + 1, `${c.name} lies within the request`);
    }
    const wait = children.find((s) => s.name === 'model.wait')!;
    const inference = children.find((s) => s.name === 'inference')!;
    t.ok(Math.abs(wait.endMs - inference.startMs) < 1, 'the wait ends where inference starts');

    const secondTrace = TRACE.replace(/^4/, '5');
    await fetch(
      server.url + '/',
      binaryEvent('traced-2', bus, 'image/jpeg', { traceparent: traceparent(secondTrace) }),
    );
    const [again] = await receiver.waitFor(inTrace(secondTrace, 'yolo.detect'));
    t.equal(again?.attributes['yolo.cold'], false, 'only the first request after start is cold');
  });
}

t.test('a structured event continues the trace of its traceparent extension; errors carry the code', async (t) => {
  const server = await detector(t, 'server', otel());
  const trace = '6bf92f3577b34da6a3ce929d0e0e4738';
  const event = {
    specversion: '1.0',
    id: 'structured-traced',
    source: '/tests/tracing',
    type: 'yolo.detection.requested',
    datacontenttype: 'image/jpeg',
    traceparent: traceparent(trace),
    data_base64: bus.toString('base64'),
  };
  const res = await fetch(server.url + '/', {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify(event),
  });
  t.equal(res.status, 200);
  const [request] = await receiver.waitFor(inTrace(trace, 'yolo.detect'));
  t.equal(request?.parentSpanId, PARENT);

  const broken = '7bf92f3577b34da6a3ce929d0e0e4739';
  const bad = await fetch(
    server.url + '/',
    binaryEvent('broken', Buffer.from('not an image'), 'image/jpeg', { traceparent: traceparent(broken) }),
  );
  t.equal(bad.status, 400);
  const [failed] = await receiver.waitFor(inTrace(broken, 'yolo.detect'));
  t.match(failed, { status: { code: 2, message: 'UNDECODABLE_IMAGE' } }, 'status ERROR with the contract code');
  t.equal(failed?.attributes['yolo.error.code'], 'UNDECODABLE_IMAGE');
  const [decode] = await receiver.waitFor(inTrace(broken, 'decode'));
  t.equal(decode?.status.code, 2, 'the step that failed is marked too');
});

t.test("the logging service's span joins the detection's trace, with the database write", async (t) => {
  const server = await detector(t, 'server', otel());
  const work = await scratchDir(t, 'kyolo-trace-logging-');
  const logging = await startServer('logging', {
    env: { DATABASE_PATH: path.join(work, 'detections.db'), ...otel() },
  });
  t.teardown(() => logging.stop('SIGKILL'));
  const trace = '8bf92f3577b34da6a3ce929d0e0e473a';
  const res = await fetch(
    server.url + '/',
    binaryEvent('to-log', bus, 'image/jpeg', { traceparent: traceparent(trace) }),
  );
  // What the Broker delivers to the logging service: the reply's headers and body.
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (k.startsWith('ce-') || k === 'content-type' || k === 'traceparent') headers[k] = v;
  });
  const stored = await fetch(logging.url + '/', { method: 'POST', headers, body: await res.text() });
  t.equal(stored.status, 202);
  const [request] = await receiver.waitFor(inTrace(trace, 'yolo.detect'));
  const [log] = await receiver.waitFor(inTrace(trace, 'yolo.log.detection'));
  t.equal(log?.service, 'knative-yolo-logging');
  t.equal(log?.parentSpanId, request?.spanId, 'a child of the detection it stores');
  const [write] = await receiver.waitFor(inTrace(trace, 'db.write'));
  t.equal(write?.parentSpanId, log?.spanId);
  t.equal(write?.attributes['db.system.name'], 'sqlite');
});

t.test('the batch CLI: one trace per run, a span per image', async (t) => {
  const work = await scratchDir(t, 'kyolo-trace-cli-');
  const input = path.join(work, 'in');
  await mkdir(input);
  for (const f of ['bus.jpg', 'zidane.jpg']) await copyFile(path.join(IMAGES, f), path.join(input, f));
  await promisify(execFile)(
    process.execPath,
    [
      path.join(ROOT, 'dist', 'func', 'cli', 'main.js'),
      'detect',
      input,
      '--out',
      path.join(work, 'out'),
      '--model',
      YOLOV8N,
    ],
    { env: { PATH: process.env.PATH ?? '', ...otel() } },
  );
  const [root] = await receiver.waitFor((s) => s.name === 'knative-yolo detect');
  t.ok(root, 'the run span');
  t.equal(root?.service, 'knative-yolo-cli');
  const images = await receiver.waitFor((s) => s.name === 'yolo.batch.image' && s.parentSpanId === root?.spanId, 2);
  t.same(images.map((s) => s.attributes['yolo.file']).sort(), ['bus.jpg', 'zidane.jpg']);
  t.ok(
    images.every((s) => s.traceId === root?.traceId),
    'in the run’s trace',
  );
});

t.test('with no endpoint, nothing is exported and the caller’s trace still goes on', async (t) => {
  const before = receiver.requests;
  const server = await detector(t, 'server', {});
  t.ok(await server.waitForOutput(/tracing: off: no OTEL_EXPORTER_OTLP_ENDPOINT/), 'the start log says it is off');
  const incoming = traceparent('9bf92f3577b34da6a3ce929d0e0e473b');
  const res = await fetch(server.url + '/', binaryEvent('untraced', bus, 'image/jpeg', { traceparent: incoming }));
  t.equal(res.status, 200);
  t.equal(res.headers.get('traceparent'), incoming, 'passed on unchanged');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(receiver.requests, before, 'no export request reached the receiver');
});

t.test('an unreachable collector never fails a request, nor slows it past the exporter timeout', async (t) => {
  // A collector that accepts connections and never answers: the worst case, worse than a refused connection.
  const sockets: Socket[] = [];
  const blackhole = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    blackhole.close();
  });
  const endpoint = `http://127.0.0.1:${(blackhole.address() as { port: number }).port}`;
  const timeoutMs = 500;
  const timed = async (env: Record<string, string>): Promise<number[]> => {
    const server = await detector(t, 'server', env);
    const times: number[] = [];
    for (let i = 0; i < 12; i++) {
      const t0 = performance.now();
      const res = await fetch(server.url + '/', binaryEvent(`bh-${i}`, bus, 'image/jpeg'));
      t.equal(res.status, 200, `request ${i}`);
      times.push(performance.now() - t0);
    }
    await server.stop('SIGKILL');
    return times.slice(2).sort((a, b) => a - b);
  };
  const off = await timed({});
  const stuck = await timed({
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_TIMEOUT: String(timeoutMs),
    OTEL_BSP_SCHEDULE_DELAY: '50',
  });
  const median = (xs: number[]): number => xs[Math.floor(xs.length / 2)]!;
  t.comment(
    `p50 ${median(off).toFixed(1)} ms with tracing off, ${median(stuck).toFixed(1)} ms exporting to a collector ` +
      `that never answers (ratio ${(median(stuck) / median(off)).toFixed(2)}); slowest ${stuck.at(-1)!.toFixed(1)} ms`,
  );
  t.ok(stuck.at(-1)! < off.at(-1)! + timeoutMs, 'no request waits on the exporter beyond its timeout');
  t.ok(sockets.length > 0, 'the exporter did try the collector');
});
