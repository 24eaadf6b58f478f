import { copyFile, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import t from 'tap';
import { BUS, missing, ZIDANE } from './expected.js';
import { IMAGES, YOLOV8N } from './paths.js';
import { binaryEvent, pathEvent, startServer, type RunningServer, type Target } from './server-process.js';
import { scratchDir, scratchVolumes } from './scratch.js';

/**
 * The HTTP contract of POST /, as the core issue states it, run against a real server process with the real
 * model. Every adapter runs this same suite, so they cannot drift apart.
 */

const MAX_IMAGE_BYTES = 2 * 1024 * 1024;

/** All files under a folder, relative, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else out.push(path.relative(dir, full));
    }
  };
  await walk(dir);
  return out.sort();
}

/** A PNG whose header claims width x height, with no real pixel data behind it (a decompression bomb's shape). */
export function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

interface ErrorCase {
  name: string;
  request: () => RequestInit | Promise<RequestInit>;
  status: number;
  code: string;
}

export function runContractSuite(target: Target): void {
  t.test(`${target}: the CloudEvent contract over HTTP`, async (t) => {
    const { work, input, output } = await scratchVolumes(t, `kyolo-${target}-`);
    await copyFile(path.join(IMAGES, 'zidane.jpg'), path.join(input, 'zidane.jpg'));
    await writeFile(path.join(work, 'outside.jpg'), await readFile(path.join(IMAGES, 'bus.jpg')));
    await symlink(path.join(work, 'outside.jpg'), path.join(input, 'escape.jpg'));
    await symlink('zidane.jpg', path.join(input, 'inside-link.jpg'));
    await mkdir(path.join(input, 'a-directory'));

    const server: RunningServer = await startServer(target, {
      env: {
        MODEL_PATH: YOLOV8N,
        INPUT_DIR: input,
        OUTPUT_DIR: output,
        MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES),
        K_SERVICE: 'yolo-detector',
      },
    });
    t.teardown(() => server.stop('SIGKILL'));
    const post = (init: RequestInit): Promise<Response> => fetch(server.url + '/', init);
    const busJpg = await readFile(path.join(IMAGES, 'bus.jpg'));

    t.test('binary mode: a JPEG body gives a binary reply event and the files', async (t) => {
      const res = await post(binaryEvent('binary-1', busJpg, 'image/jpeg'));
      t.equal(res.status, 200);
      t.equal(res.headers.get('ce-specversion'), '1.0');
      t.equal(res.headers.get('ce-type'), 'yolo.detection.completed');
      t.equal(res.headers.get('ce-source'), '/knative-yolo/yolo-detector');
      t.equal(res.headers.get('ce-subject'), 'binary-1', 'subject is the request id when there is no path');
      t.match(res.headers.get('ce-id'), /^[0-9a-f]{32}$/);
      t.ok(res.headers.get('ce-time'));
      t.match(res.headers.get('content-type'), /^application\/json/);
      const data = await res.json();
      t.match(data, {
        requestId: 'binary-1',
        requestSource: '/tests/contract',
        input: { contentType: 'image/jpeg', bytes: busJpg.length },
        image: { width: 810, height: 1080 },
        model: { name: 'yolov8n-coco-int8-640', inputSize: [640, 640], classes: 80 },
      });
      t.match(data.model.sha256, /^8c6f0ca5/);
      t.same(missing(data.detections, BUS), []);
      for (const key of ['decodeMs', 'preprocessMs', 'inferenceMs', 'postprocessMs', 'annotateMs', 'totalMs']) {
        t.type(data.timings[key], 'number', `timings.${key}`);
      }
      t.ok(data.timings.totalMs >= data.timings.inferenceMs);
      t.match(data.output.image, /^\d{4}\/\d{2}\/\d{2}\/binary-1-[0-9a-f]{16}\.jpg$/);
      t.equal(data.output.json, data.output.image.replace(/\.jpg$/, '.json'));
      const annotated = await sharp(path.join(output, data.output.image)).metadata();
      t.match(annotated, { format: 'jpeg', width: 810, height: 1080 });
      const stored = JSON.parse(await readFile(path.join(output, data.output.json), 'utf8'));
      t.same(stored.detections, data.detections, 'the JSON file matches the reply');
    });

    t.test('structured mode: data_base64', async (t) => {
      const res = await post({
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
        body: JSON.stringify({
          specversion: '1.0',
          id: 'structured-1',
          source: '/tests/contract',
          type: 'yolo.detection.requested',
          time: '2026-03-04T05:06:07Z',
          datacontenttype: 'image/jpeg',
          data_base64: busJpg.toString('base64'),
        }),
      });
      t.equal(res.status, 200);
      const data = await res.json();
      t.same(missing(data.detections, BUS), []);
      t.match(data.output.image, /^2026\/03\/04\//, 'the output folder is dated by the event time');
    });

    t.test('path form with options, and the subject is the path', async (t) => {
      const res = await post(pathEvent('path-1', { path: 'uploads/bus.jpg', classes: ['person'], conf: 0.5 }));
      t.equal(res.status, 200);
      t.equal(res.headers.get('ce-subject'), 'uploads/bus.jpg');
      const data = await res.json();
      t.same(data.input, { path: 'uploads/bus.jpg' });
      t.same(
        data.detections.map((d: { label: string }) => d.label),
        ['person', 'person', 'person'],
      );
      const zidane = await post(pathEvent('path-2', { path: 'zidane.jpg', maxDetections: 2, annotate: false }));
      const z = await zidane.json();
      t.equal(z.detections.length, 2);
      t.same(missing(z.detections, ZIDANE.slice(0, 2)), []);
      t.equal(z.output.image, null, 'annotate=false writes no image');
      const link = await post(pathEvent('path-3', { path: 'inside-link.jpg' }));
      t.equal(link.status, 200, 'a symlink that stays inside INPUT_DIR is fine');
    });

    t.test('PNG and WebP input; PNG in gives PNG out', async (t) => {
      const png = await sharp(busJpg).resize(405).png().toBuffer();
      const res = await post(binaryEvent('png-1', png, 'image/png'));
      t.equal(res.status, 200);
      const data = await res.json();
      t.same(data.image, { width: 405, height: 540 });
      t.match(data.output.image, /\.png$/);
      t.equal((await sharp(path.join(output, data.output.image)).metadata()).format, 'png');
      t.ok(
        data.detections.some((d: { label: string }) => d.label === 'bus'),
        'finds the bus',
      );
      const webp = await sharp(busJpg).webp({ quality: 90 }).toBuffer();
      const w = await post(binaryEvent('webp-1', webp, 'image/webp'));
      t.equal(w.status, 200);
      t.same(missing((await w.json()).detections, BUS, 8, 0.05), []);
    });

    t.test('redelivery of one event gives the same files and reply id, no duplicates', async (t) => {
      const first = await post(
        pathEvent('redeliver-1', { path: 'uploads/bus.jpg' }, { 'ce-time': '2026-05-06T00:00:00Z' }),
      );
      const before = await listFiles(output);
      const second = await post(
        pathEvent('redeliver-1', { path: 'uploads/bus.jpg' }, { 'ce-time': '2026-05-06T00:00:00Z' }),
      );
      const after = await listFiles(output);
      t.equal(first.status, 200);
      t.equal(second.status, 200);
      t.equal(second.headers.get('ce-id'), first.headers.get('ce-id'), 'the reply id is the same');
      const [a, b] = [await first.json(), await second.json()];
      t.same(b.output, a.output);
      t.same(b.detections, a.detections);
      t.same(after, before, 'no new files');
      t.notOk(
        after.some((f) => f.endsWith('.partial')),
        'no temp files remain',
      );
      const other = await post(pathEvent('redeliver-1', { path: 'uploads/bus.jpg' }, { 'ce-source': '/elsewhere' }));
      t.not((await other.json()).output.json, a.output.json, 'the same id from another source is another request');
    });

    const errorCases: ErrorCase[] = [
      {
        name: 'not a CloudEvent',
        request: () => ({ method: 'POST', body: 'hello' }),
        status: 400,
        code: 'INVALID_CLOUDEVENT',
      },
      {
        name: 'missing ce-id',
        request: () => {
          const init = binaryEvent('x', busJpg, 'image/jpeg');
          delete (init.headers as Record<string, string>)['ce-id'];
          return init;
        },
        status: 400,
        code: 'INVALID_CLOUDEVENT',
      },
      {
        name: 'missing ce-source',
        request: () => {
          const init = binaryEvent('x', busJpg, 'image/jpeg');
          delete (init.headers as Record<string, string>)['ce-source'];
          return init;
        },
        status: 400,
        code: 'INVALID_CLOUDEVENT',
      },
      {
        name: 'specversion 0.3',
        request: () => binaryEvent('x', busJpg, 'image/jpeg', { 'ce-specversion': '0.3' }),
        status: 400,
        code: 'INVALID_CLOUDEVENT',
      },
      {
        name: 'structured mode, broken JSON',
        request: () => ({
          method: 'POST',
          headers: { 'content-type': 'application/cloudevents+json' },
          body: '{"id":',
        }),
        status: 400,
        code: 'INVALID_DATA',
      },
      {
        name: 'wrong event type',
        request: () => binaryEvent('x', busJpg, 'image/jpeg', { 'ce-type': 'yolo.detection.completed' }),
        status: 400,
        code: 'WRONG_EVENT_TYPE',
      },
      {
        name: 'truncated JPEG',
        request: () => binaryEvent('x', busJpg.subarray(0, busJpg.length / 2), 'image/jpeg'),
        status: 400,
        code: 'UNDECODABLE_IMAGE',
      },
      {
        name: 'random bytes',
        request: () =>
          binaryEvent('x', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)), 'image/jpeg'),
        status: 400,
        code: 'UNDECODABLE_IMAGE',
      },
      {
        name: 'a JPEG that says it is a PNG',
        request: () => binaryEvent('x', busJpg, 'image/png'),
        status: 400,
        code: 'CONTENT_TYPE_MISMATCH',
      },
      {
        name: 'empty body',
        request: () => binaryEvent('x', Buffer.alloc(0), 'image/jpeg'),
        status: 400,
        code: 'MISSING_IMAGE',
      },
      {
        name: 'bad option',
        request: () => pathEvent('x', { path: 'zidane.jpg', iou: -1 }),
        status: 400,
        code: 'INVALID_OPTION',
      },
      {
        name: 'unknown option',
        request: () => pathEvent('x', { path: 'zidane.jpg', confidence: 0.5 }),
        status: 400,
        code: 'INVALID_OPTION',
      },
      {
        name: 'unknown class',
        request: () => pathEvent('x', { path: 'zidane.jpg', classes: ['unicorn'] }),
        status: 400,
        code: 'INVALID_OPTION',
      },
      { name: 'no path', request: () => pathEvent('x', { file: 'zidane.jpg' }), status: 400, code: 'INVALID_DATA' },
      {
        name: '../../etc/passwd',
        request: () => pathEvent('x', { path: '../../etc/passwd' }),
        status: 400,
        code: 'INVALID_PATH',
      },
      {
        name: 'absolute path',
        request: () => pathEvent('x', { path: '/etc/passwd' }),
        status: 400,
        code: 'INVALID_PATH',
      },
      {
        name: 'symlink out of INPUT_DIR',
        request: () => pathEvent('x', { path: 'escape.jpg' }),
        status: 400,
        code: 'INVALID_PATH',
      },
      {
        name: 'a directory',
        request: () => pathEvent('x', { path: 'a-directory' }),
        status: 400,
        code: 'INVALID_PATH',
      },
      {
        name: 'NUL byte',
        request: () => pathEvent('x', { path: 'zidane.jpg\u0000.png' }),
        status: 400,
        code: 'INVALID_PATH',
      },
      {
        name: 'missing file',
        request: () => pathEvent('x', { path: 'uploads/nope.jpg' }),
        status: 400,
        code: 'INPUT_NOT_FOUND',
      },
      {
        name: 'a PNG that claims 20000x20000',
        request: () => binaryEvent('x', pngClaiming(20000, 20000), 'image/png'),
        status: 413,
        code: 'IMAGE_TOO_LARGE',
      },
      {
        name: 'over MAX_IMAGE_BYTES',
        request: () => binaryEvent('x', Buffer.alloc(MAX_IMAGE_BYTES + 1, 0xff), 'image/jpeg'),
        status: 413,
        code: 'IMAGE_TOO_LARGE',
      },
      {
        name: 'far over MAX_IMAGE_BYTES',
        request: () => binaryEvent('x', Buffer.alloc(MAX_IMAGE_BYTES * 3, 0xff), 'image/jpeg'),
        status: 413,
        code: 'IMAGE_TOO_LARGE',
      },
      {
        name: 'text/plain',
        request: () => binaryEvent('x', 'hello', 'text/plain'),
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
      },
    ];

    t.test('each error has its status, a JSON body a person can read, and leaves no file', async (t) => {
      const before = await listFiles(output);
      for (const c of errorCases) {
        const res = await post(await c.request());
        t.equal(res.status, c.status, `${c.name}: status ${c.status}`);
        t.match(res.headers.get('content-type'), /^application\/json/, `${c.name}: JSON`);
        t.notOk(res.headers.get('ce-type'), `${c.name}: an error is never a reply event`);
        const body = await res.json();
        t.equal(body.code, c.code, `${c.name}: code ${c.code}`);
        t.match(body.error, /^[A-Z].{10,}\.$/s, `${c.name}: a sentence (${body.error})`);
      }
      t.same(await listFiles(output), before, 'no output from any bad request');
      const health = await fetch(server.url + '/health/readiness');
      t.equal(health.status, 200, 'the server is still up and ready');
    });

    t.test('metrics', async (t) => {
      const text = await (await fetch(server.url + '/metrics')).text();
      for (const name of [
        'yolo_inference_duration_seconds_bucket',
        'yolo_request_duration_seconds_bucket',
        'yolo_requests_total',
        'yolo_detections_total',
        'yolo_model_load_seconds',
        'yolo_inflight_requests',
      ]) {
        t.match(text, new RegExp(`^${name}`, 'm'), name);
      }
      t.match(text, /^yolo_requests_total\{outcome="success",code="200"\} \d+/m);
      t.match(text, /^yolo_requests_total\{outcome="client_error",code="400"\} \d+/m);
      t.match(text, /^yolo_detections_total\{label="bus"\} \d+/m);
      t.match(
        text,
        /^yolo_model_info\{name="yolov8n-coco-int8-640",sha256="8c6f0ca5[0-9a-f]+",provider="cpu",fallback="false",ops_off_provider=""\} 1/m,
      );
    });
  });

  t.test(`${target}: a model that cannot load keeps the server unready, and requests get 503`, async (t) => {
    const work = await scratchDir(t, `kyolo-${target}-nomodel-`);
    const server = await startServer(target, {
      env: { MODEL_PATH: path.join(work, 'missing.onnx'), INPUT_DIR: work, OUTPUT_DIR: work },
      waitReady: false,
    });
    t.teardown(() => server.stop('SIGKILL'));
    // Loading happens in the background: poll until the reason replaces "loading".
    let body: { code?: string; error?: string } = {};
    for (let i = 0; i < 100 && !/does not exist/.test(body.error ?? ''); i++) {
      const ready = await fetch(server.url + '/health/readiness');
      t.equal(ready.status, 503, 'unready');
      body = await ready.json();
      if (!/does not exist/.test(body.error ?? '')) await new Promise((r) => setTimeout(r, 50));
    }
    t.match(body, { code: 'MODEL_NOT_READY', error: /missing\.onnx does not exist/ });
    const res = await fetch(server.url + '/', pathEvent('x', { path: 'a.jpg' }));
    t.equal(res.status, 503);
    t.match(await res.json(), { code: 'MODEL_NOT_READY' });
  });

  t.test(
    `${target}: EXECUTION_PROVIDERS=cuda,cpu falls back to the CPU with a warning and a metric label`,
    async (t) => {
      const work = await scratchDir(t, `kyolo-${target}-cuda-`);
      const server = await startServer(target, {
        env: { MODEL_PATH: YOLOV8N, INPUT_DIR: work, OUTPUT_DIR: work, EXECUTION_PROVIDERS: 'cuda,cpu' },
      });
      t.teardown(() => server.stop('SIGKILL'));
      const metrics = await (await fetch(server.url + '/metrics')).text();
      const provider = /^yolo_model_info\{.*provider="(\w+)",fallback="(\w+)",ops_off_provider="[^"]*"\} 1/m.exec(
        metrics,
      );
      t.ok(provider, 'yolo_model_info is exported');
      if (provider?.[1] === 'cuda') {
        t.equal(provider[2], 'false', 'CUDA is available here: no fallback');
      } else {
        t.equal(provider?.[2], 'true', 'no CUDA here: fallback="true"');
        t.ok(
          await server.waitForOutput(/execution provider cuda is unavailable; falling back to cpu/),
          'a warning is logged',
        );
      }
    },
  );

  t.test(`${target}: an output volume it cannot write gives 503 and no partial file`, async (t) => {
    const work = await scratchDir(t, `kyolo-${target}-ro-`);
    const input = path.join(work, 'input');
    const output = path.join(work, 'output');
    await mkdir(input);
    await mkdir(output, { mode: 0o755 });
    await copyFile(path.join(IMAGES, 'zidane.jpg'), path.join(input, 'zidane.jpg'));
    const { chmod } = await import('node:fs/promises');
    await chmod(work, 0o755);
    await chmod(input, 0o755);
    await chmod(path.join(input, 'zidane.jpg'), 0o644);
    // Root writes anywhere, so the server runs as an unprivileged user, as it does in the container.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const server = await startServer(target, {
      env: { MODEL_PATH: YOLOV8N, INPUT_DIR: input, OUTPUT_DIR: output },
      ...asUser,
    });
    t.teardown(() => server.stop('SIGKILL'));
    if (process.getuid?.() !== 0) await chmod(output, 0o555);
    const res = await fetch(server.url + '/', pathEvent('ro-1', { path: 'zidane.jpg' }));
    t.equal(res.status, 503);
    t.match(await res.json(), { code: 'OUTPUT_UNAVAILABLE', error: /not writable/ });
    t.same(await listFiles(output), [], 'nothing, not even a temp file, in the output volume');
  });
}
