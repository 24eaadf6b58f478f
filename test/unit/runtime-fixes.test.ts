import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { HTTP, type CloudEvent } from 'cloudevents';
import runtime from 'faas-js-runtime';
import sharp from 'sharp';
import t from 'tap';
import { eventFromRuntime, installFront } from '../../func/detector/function/runtime-fixes.js';
import { readCloudEvent } from '../../func/shared/cloudevent.js';
import { IMAGES } from '../support/paths.js';
import { freePort } from '../support/server-process.js';

/**
 * Each correction in runtime-fixes.ts, shown against what faas-js-runtime and its CloudEvents SDK do without it.
 * The SDK is called as the runtime calls it (eventHandler: HTTP.toEvent on fastify's request).
 */

const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
const structured = (event: Record<string, unknown>) => ({
  headers: { 'content-type': 'application/cloudevents+json' },
  body: JSON.stringify(event),
});
const base = { specversion: '1.0', source: '/tests/runtime', type: 'yolo.detection.requested' };
/** A binary-mode request of bus.jpg with these ce- headers (and a source, type and content type). */
const binary = (headers: Record<string, string>) => ({
  headers: { 'ce-source': '/s', 'ce-type': base.type, 'content-type': 'image/jpeg', ...headers },
  body: bus,
});

t.test('1: data_base64 arrives as a Uint32Array of one element per byte; the fix reads the bytes', async (t) => {
  const request = structured({
    ...base,
    id: 'b64',
    datacontenttype: 'image/jpeg',
    data_base64: bus.toString('base64'),
  });
  const sdk = HTTP.toEvent(request) as CloudEvent<unknown>;
  t.type(sdk.data, Uint32Array, 'the SDK decodes into a Uint32Array');
  const view = sdk.data as Uint32Array;
  t.equal(view.byteLength, 4 * bus.length, 'four bytes for every byte of the image');
  await t.rejects(sharp(Buffer.from(view.buffer)).metadata(), 'no decoder reads it as the JPEG');
  const fixed = eventFromRuntime(request, sdk);
  t.ok(Buffer.isBuffer(fixed.data) && bus.equals(fixed.data as Buffer), 'the fix gives the exact bytes');
});

t.test('2: a structured event without an id gets a random one; the fix refuses it', async (t) => {
  const request = structured({ ...base, datacontenttype: 'application/json', data: { path: 'bus.jpg' } });
  const first = HTTP.toEvent(request) as CloudEvent<unknown>;
  const second = HTTP.toEvent(request) as CloudEvent<unknown>;
  t.ok(first.id && second.id && first.id !== second.id, 'the same event gets a new id each delivery');
  t.throws(() => eventFromRuntime(request, first), { code: 'INVALID_CLOUDEVENT', message: /has no id/ });
});

t.test('3: a binary event without ce-time gets the time of arrival; the fix keeps it absent', async (t) => {
  const request = binary({ 'ce-specversion': '1.0', 'ce-id': 'no-time' });
  const sdk = HTTP.toEvent(request) as CloudEvent<unknown>;
  t.ok(sdk.time, `the SDK invents ${sdk.time}`);
  t.equal(eventFromRuntime(request, sdk).time, undefined);
});

t.test('3: a binary event without ce-specversion is given 1.0; the fix refuses it', async (t) => {
  const request = binary({ 'ce-id': 'no-version' });
  const sdk = HTTP.toEvent(request) as CloudEvent<unknown>;
  t.equal(sdk.specversion, '1.0', 'the SDK invents the version');
  t.throws(() => eventFromRuntime(request, sdk), { code: 'INVALID_CLOUDEVENT', message: /no specversion/ });
});

t.test('a binary event taken from the runtime equals the one the shared reader reads', async (t) => {
  const request = {
    headers: {
      'ce-specversion': '1.0',
      'ce-id': 'same',
      'ce-source': '/s',
      'ce-type': base.type,
      'ce-time': '2026-03-04T05:06:07Z',
      'ce-traceparent': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'content-type': 'image/jpeg; q=1',
    },
    body: bus,
  };
  const fromSdk = eventFromRuntime(request, HTTP.toEvent(request) as CloudEvent<unknown>);
  t.same(fromSdk, readCloudEvent(request));
  t.equal(fromSdk.extensions.traceparent, request.headers['ce-traceparent']);
});

t.test('4: an event the SDK does not recognise reaches handle as a plain call; the fix reads it', async (t) => {
  const request = binary({ 'ce-specversion': '1.0' });
  t.equal(HTTP.isEvent(request), false, 'with no ce-id the SDK sees no event');
  t.throws(() => eventFromRuntime(request, undefined), { code: 'INVALID_CLOUDEVENT', message: /has no id/ });
});

t.test('5 and 6: errors before handle leave as fastify 500s; the front answers the contract', async (t) => {
  const start = (runtime as unknown as { start: (f: object, o: object) => Promise<Server> }).start;
  const handle = () => ({ statusCode: 204, body: '' });
  const post = async (port: number) => {
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      // A binary event with no ce-source: the SDK parses it, then its validate() throws in a preHandler.
      headers: { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': base.type, 'content-type': 'image/jpeg' },
      body: bus,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const options = () => ({ config: os.tmpdir(), logLevel: 'fatal', bodyLimit: 4 * 1024 * 1024 });

  const bare = await start({ handle }, { ...options(), port: await freePort() });
  t.teardown(() => bare.close());
  const without = await post((bare.address() as { port: number }).port);
  t.equal(without.status, 500, 'without the front: a 500, which a Broker retries forever');
  t.type(without.body.statusCode, 'number', "in fastify's shape");

  const fronted = await start({ handle }, { ...options(), port: await freePort() });
  t.teardown(() => fronted.close());
  installFront(fronted, 4 * 1024 * 1024);
  const port = (fronted.address() as { port: number }).port;
  const with_ = await post(port);
  t.equal(with_.status, 400);
  t.same(with_.body, { error: 'The CloudEvent has no source.', code: 'INVALID_CLOUDEVENT' });

  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
  t.match(await metrics.text(), /^yolo_requests_total/m, "/metrics serves the service's registry");
});
