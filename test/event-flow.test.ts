import path from 'node:path';
import t from 'tap';
import { BrokerHarness } from './support/broker-harness.js';
import { listFiles } from './support/contract-suite.js';
import { render, type Resource } from './support/kustomize.js';
import { ROOT, YOLOV8N } from './support/paths.js';
import { binaryEvent, pathEvent, startServer, type RunningServer } from './support/server-process.js';
import { scratchVolumes } from './support/scratch.js';

/**
 * The event flow of the cluster, without a cluster: the real detector server and the real logging service,
 * connected by a harness that plays the Broker from the Trigger manifests (knative/overlays/cpu).
 */

const rendered = render(path.join(ROOT, 'knative', 'overlays', 'cpu'));
const triggers = rendered.filter((r) => r.kind === 'Trigger');
const broker = rendered.find((r) => r.kind === 'Broker')!;

function harness(detector: RunningServer, logging: RunningServer): BrokerHarness {
  return new BrokerHarness(triggers, broker, (ref: Resource, uri: string | undefined) => {
    const target =
      ref.apiVersion === 'serving.knative.dev/v1' && ref.name === 'yolo-detector'
        ? detector
        : ref.apiVersion === 'v1' && ref.name === 'yolo-logging'
          ? logging
          : undefined;
    if (!target) throw new Error(`no server for ${ref.apiVersion} ${ref.kind}/${ref.name}`);
    return target.url + (uri ?? '/');
  });
}

const toEvent = (init: RequestInit): { headers: Record<string, string>; body: string | Buffer } => ({
  headers: init.headers as Record<string, string>,
  body: init.body as string | Buffer,
});

t.test('event flow through the Triggers, against the real detector and logging service', async (t) => {
  const { work, input, output } = await scratchVolumes(t, 'kyolo-flow-');
  const detector = await startServer('server', {
    env: { MODEL_PATH: YOLOV8N, INPUT_DIR: input, OUTPUT_DIR: output, K_SERVICE: 'yolo-detector' },
  });
  t.teardown(() => detector.stop('SIGKILL'));
  const logging = await startServer('logging', { env: { DATABASE_PATH: path.join(work, 'logs', 'detections.db') } });
  t.teardown(() => logging.stop('SIGKILL'));
  const query = async (p: string): Promise<{ items: Resource[] }> =>
    (await fetch(logging.url + p)).json() as Promise<{ items: Resource[] }>;

  t.test('one requested event ends as exactly one annotated file and one stored record', async (t) => {
    const broker = harness(detector, logging);
    await broker.publish(toEvent(pathEvent('flow-1', { path: 'uploads/bus.jpg' })));
    const files = await listFiles(output);
    t.equal(files.filter((f) => f.endsWith('.jpg')).length, 1, 'one annotated image');
    t.equal(files.filter((f) => f.endsWith('.json')).length, 1, 'one JSON record');
    const records = (await query('/detections')).items;
    t.equal(records.length, 1, 'one stored record');
    t.match(records[0], {
      requestId: 'flow-1',
      subject: 'uploads/bus.jpg',
      eventSource: '/knative-yolo/yolo-detector',
    });
    t.ok(records[0]!.detections.some((d: Resource) => d.label === 'bus'));
    t.same(
      broker.deliveries.map((d) => [d.trigger, d.status]),
      [
        ['yolo-detection-requested', 200],
        ['yolo-detection-completed', 202],
      ],
      'one delivery to the detector, its reply to the logging service, and nothing more (no loop)',
    );
    t.same((await query('/failures')).items, [], 'nothing dead-lettered');

    await broker.publish(toEvent(pathEvent('flow-1', { path: 'uploads/bus.jpg' })));
    t.equal((await listFiles(output)).length, 2, 'a redelivered request rewrites the same two files');
    t.equal((await query('/detections')).items.length, 1, 'and its reply is stored once');
  });

  t.test('an undecodable image ends as one record under /failures', async (t) => {
    const broker = harness(detector, logging);
    const garbage = Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 31) % 256));
    await broker.publish(toEvent(binaryEvent('flow-bad', garbage, 'image/jpeg', { 'ce-source': '/tests/flow' })));
    t.same(
      broker.deliveries.map((d) => d.status),
      [400],
      'a 4xx is not retried',
    );
    const failures = (await query('/failures')).items;
    t.equal(failures.length, 1);
    t.match(failures[0], {
      eventId: 'flow-bad',
      eventSource: '/tests/flow',
      eventType: 'yolo.detection.requested',
      errorCode: '400',
      errorDest: detector.url + '/',
      errorData: /"code":"UNDECODABLE_IMAGE"/,
    });
    t.equal((await query('/detections')).items.length, 1, 'no detection record for it');
    t.equal((await listFiles(output)).length, 2, 'and no file');
  });

  t.test('a detector that is not ready is retried with exponential backoff, then dead-lettered', async (t) => {
    const unready = await startServer('server', {
      env: { MODEL_PATH: path.join(work, 'no-such-model.onnx'), INPUT_DIR: input, OUTPUT_DIR: output },
      waitReady: false,
    });
    t.teardown(() => unready.stop('SIGKILL'));
    const broker = harness(unready, logging);
    await broker.publish(toEvent(pathEvent('flow-unready', { path: 'uploads/bus.jpg' })));
    const retry = triggers.find((tr) => tr.metadata.name === 'yolo-detection-requested')!.spec.delivery.retry;
    const attempts = broker.deliveries.filter((d) => d.trigger === 'yolo-detection-requested');
    t.equal(attempts.length, retry + 1, `the first try and ${retry} retries, as the Trigger says`);
    t.ok(
      attempts.every((d) => d.status === 503),
      'each a 503 (model not ready)',
    );
    const gaps = attempts.slice(1).map((d, i) => d.at - attempts[i]!.at);
    t.ok(gaps[gaps.length - 1]! > gaps[0]! * 4, `the gaps grow exponentially (${gaps.join(', ')} ms)`);
    const failure = (await query('/failures')).items.find((f) => f.eventId === 'flow-unready');
    t.match(failure, { errorCode: '503', errorData: /MODEL_NOT_READY/ });
  });
});
