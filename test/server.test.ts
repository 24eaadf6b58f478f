import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { listFiles } from './support/contract-suite.js';
import { BUS, missing } from './support/expected.js';
import { IMAGES, YOLOV8N } from './support/paths.js';
import { binaryEvent, startServer } from './support/server-process.js';
import { scratchDir } from './support/scratch.js';

/** What the container server adds to the contract: multipart uploads, the page, outputs, logs, shutdown. */

const MAX_IMAGE_BYTES = 2 * 1024 * 1024;

t.test('container server', async (t) => {
  const work = await scratchDir(t, 'kyolo-server-');
  const output = path.join(work, 'output');
  await mkdir(output);
  const server = await startServer('server', {
    env: {
      MODEL_PATH: YOLOV8N,
      INPUT_DIR: IMAGES,
      OUTPUT_DIR: output,
      MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES),
      LOG_LEVEL: 'info',
    },
  });
  t.teardown(() => server.stop('SIGKILL'));
  const busJpg = await readFile(path.join(IMAGES, 'bus.jpg'));
  const form = (fields: Record<string, string>, file?: { name: string; type: string; data: Buffer }): FormData => {
    const f = new FormData();
    for (const [k, v] of Object.entries(fields)) f.append(k, v);
    if (file) f.append('image', new Blob([new Uint8Array(file.data)], { type: file.type }), file.name);
    return f;
  };
  const detect = (body: FormData, query = '', headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${server.url}/detect${query}`, { method: 'POST', body, headers });
  const bus = { name: 'bus.jpg', type: 'image/jpeg', data: busJpg };

  t.test('multipart upload answers with the detection record and writes the files', async (t) => {
    const res = await detect(form({}, bus));
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^application\/json/);
    const data = await res.json();
    t.same(missing(data.detections, BUS), []);
    t.match(data, { input: { contentType: 'image/jpeg', bytes: busJpg.length }, image: { width: 810, height: 1080 } });
    t.equal(data.requestId, res.headers.get('x-request-id'), 'the request id names the upload');
    const files = await listFiles(output);
    t.ok(files.includes(data.output.image) && files.includes(data.output.json), 'both files are in OUTPUT_DIR');
    const served = await fetch(`${server.url}/outputs/${data.output.image}`);
    t.equal(served.status, 200);
    t.equal(served.headers.get('content-type'), 'image/jpeg');
    t.equal((await sharp(Buffer.from(await served.arrayBuffer())).metadata()).width, 810);
  });

  t.test('options as form fields', async (t) => {
    const res = await detect(form({ classes: 'bus, person', conf: '0.85', maxDetections: '2' }, bus));
    const data = await res.json();
    t.equal(res.status, 200);
    t.equal(data.detections.length, 2);
    t.ok(data.detections.every((d: { confidence: number }) => d.confidence >= 0.85));
    const onlyBus = await (await detect(form({ classes: 'bus' }, bus))).json();
    t.same(
      onlyBus.detections.map((d: { label: string }) => d.label),
      ['bus'],
    );
  });

  t.test('the annotated image, by Accept or ?format=image', async (t) => {
    const jpeg = await detect(form({}, bus), '', { accept: 'image/jpeg' });
    t.equal(jpeg.status, 200);
    t.equal(jpeg.headers.get('content-type'), 'image/jpeg');
    t.equal(jpeg.headers.get('x-detections'), '5');
    t.match(jpeg.headers.get('x-output-json'), /\.json$/);
    t.match(await sharp(Buffer.from(await jpeg.arrayBuffer())).metadata(), {
      format: 'jpeg',
      width: 810,
      height: 1080,
    });
    const png = await detect(form({}, bus), '', { accept: 'image/png' });
    t.equal(png.headers.get('content-type'), 'image/png');
    t.equal((await sharp(Buffer.from(await png.arrayBuffer())).metadata()).format, 'png');
    const query = await detect(form({}, bus), '?format=image');
    t.equal(query.headers.get('content-type'), 'image/jpeg');
    // A phone photo's size with bus.jpg's Display P3 profile: drawn on as stored, so the reply carries the profile.
    const photo = await sharp(busJpg).resize(2400).keepIccProfile().jpeg().toBuffer();
    const annotated = await detect(form({}, { name: 'photo.jpg', type: 'image/jpeg', data: photo }), '?format=image');
    const annotatedJpeg = Buffer.from(await annotated.arrayBuffer());
    const annotatedMeta = await sharp(annotatedJpeg).metadata();
    t.match(annotatedMeta, { format: 'jpeg', width: 2400 });
    // 4.3 MP: encoded in strips at once where there are two cores or more (jpeg-strips.ts), and decoded here as
    // strictly as libjpeg can: a restart marker out of place would be a warning.
    await t.resolves(sharp(annotatedJpeg, { failOn: 'warning' }).raw().toBuffer(), 'the reply decodes strictly');
    t.ok(annotatedMeta.icc?.equals((await sharp(photo).metadata()).icc!), "the photo's profile is in the reply");
    const browserLike = await detect(form({}, bus), '', { accept: 'application/json, image/*;q=0.8' });
    t.match(browserLike.headers.get('content-type'), /^application\/json/, 'JSON first in Accept wins');
  });

  t.test('multipart errors', async (t) => {
    const cases: [string, () => Promise<Response>, number, string][] = [
      ['no file field', () => detect(form({ conf: '0.5' })), 400, 'MISSING_IMAGE'],
      [
        'a text file',
        () => detect(form({}, { name: 'notes.txt', type: 'text/plain', data: Buffer.from('hello') })),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'a file over MAX_IMAGE_BYTES',
        () => detect(form({}, { name: 'big.jpg', type: 'image/jpeg', data: Buffer.alloc(MAX_IMAGE_BYTES + 10, 1) })),
        413,
        'IMAGE_TOO_LARGE',
      ],
      ['a bad option', () => detect(form({ conf: 'high' }, bus)), 400, 'INVALID_OPTION'],
      ['an unknown field', () => detect(form({ confidence: '0.5' }, bus)), 400, 'INVALID_OPTION'],
      ['an unknown class', () => detect(form({ classes: 'unicorn' }, bus)), 400, 'INVALID_OPTION'],
      [
        'a corrupt image',
        () => detect(form({}, { name: 'x.jpg', type: 'image/jpeg', data: busJpg.subarray(0, 5000) })),
        400,
        'UNDECODABLE_IMAGE',
      ],
      [
        'not multipart',
        () =>
          fetch(`${server.url}/detect`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: busJpg }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
    ];
    const before = await listFiles(output);
    for (const [name, send, status, code] of cases) {
      const res = await send();
      t.equal(res.status, status, `${name}: ${status}`);
      const body = await res.json();
      t.equal(body.code, code, `${name}: ${code}`);
      t.match(body.error, /^[A-Z].{10,}[.)]$/s, `${name}: a sentence (${body.error})`);
    }
    t.same(await listFiles(output), before, 'no files from failed uploads');
  });

  t.test('the upload page and outputs', async (t) => {
    const page = await fetch(server.url + '/');
    t.equal(page.status, 200);
    t.match(page.headers.get('content-type'), /^text\/html/);
    const html = await page.text();
    t.match(html, /<input id="file" name="image" type="file"/);
    for (const bad of ['../../etc/passwd', '2026/01/01/x.txt', '2026/01/01/missing.jpg', '%2e%2e/%2e%2e/etc/passwd']) {
      const res = await fetch(`${server.url}/outputs/${bad}`);
      t.equal(res.status, 404, `/outputs/${bad} is not served`);
    }
    const unknown = await fetch(server.url + '/nowhere');
    t.same(await unknown.json(), { error: 'There is no GET /nowhere here.', code: 'NOT_FOUND' });
  });

  t.test('structured JSON logs with the request and event ids, no image bytes', async (t) => {
    const res = await fetch(server.url + '/', binaryEvent('log-check-1', busJpg, 'image/jpeg'));
    t.equal(res.status, 200);
    t.ok(await server.waitForOutput(/"ceId":"log-check-1"/), 'the detection is logged');
    const lines = server
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    t.ok(lines.length > 0, 'logs are JSON lines');
    const done = lines.find((l) => l.msg === 'detection completed' && l.ceId === 'log-check-1');
    t.ok(done, 'the detection is logged with the CloudEvent id');
    t.type(done?.reqId, 'string', 'and with the request id');
    t.notMatch(server.output(), busJpg.subarray(0, 64).toString('base64').slice(0, 40), 'no image bytes in the logs');
  });
});

t.test('SIGTERM: in-flight requests complete, new ones are refused, exit 0', async (t) => {
  const work = await scratchDir(t, 'kyolo-sigterm-');
  const server = await startServer('server', {
    env: {
      MODEL_PATH: YOLOV8N,
      INPUT_DIR: IMAGES,
      OUTPUT_DIR: work,
      SHUTDOWN_GRACE_SECONDS: '20',
      LOG_LEVEL: 'info',
    },
  });
  t.teardown(() => server.stop('SIGKILL'));
  // A large image keeps each request busy for a while; four of them queue behind one another.
  const big = await sharp(path.join(IMAGES, 'bus.jpg')).resize(3000).jpeg().toBuffer();
  const inflight = [1, 2, 3, 4].map((i) => fetch(server.url + '/', binaryEvent(`sigterm-${i}`, big, 'image/jpeg')));
  let allInFlight = false;
  for (let i = 0; i < 500 && !allInFlight; i++) {
    const metrics = await (await fetch(server.url + '/metrics')).text();
    allInFlight = /^yolo_inflight_requests 4$/m.test(metrics);
    if (!allInFlight) await new Promise((r) => setTimeout(r, 10));
  }
  t.ok(allInFlight, 'all four requests are in flight when SIGTERM arrives');
  const exit = server.stop('SIGTERM');
  // Once the handler has run (a loaded machine can hold the signal back behind a busy event loop for a while).
  t.ok(await server.waitForOutput(/shutting down: finishing in-flight requests/), 'the server says it is stopping');
  const late = await fetch(server.url + '/health/liveness').then(
    (r) => r.status,
    () => 'refused',
  );
  t.not(late, 200, `a new request after SIGTERM is not served (${late})`);
  const statuses = await Promise.all(inflight.map((p) => p.then((r) => r.status)));
  t.same(statuses, [200, 200, 200, 200], 'every in-flight request completed');
  t.equal(await exit, 0, 'exit code 0');
  t.same((await listFiles(work)).filter((f) => f.endsWith('.json')).length, 4, 'all four wrote their files');
});
