import sharp from 'sharp';
import { pngClaiming } from './contract-suite.js';
import { binaryEvent, pathEvent } from './server-process.js';

/**
 * A generated battery of bad inputs for POST /: broken images of every accepted format, lying content types,
 * polyglots, decompression bombs, oversized bodies, malformed CloudEvents, hostile paths and invalid options.
 * Every one must be refused with a 4xx and a JSON error; none may be a 5xx, crash the server or leave a file.
 */

export interface BadCase {
  name: string;
  init: RequestInit;
}

const FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff'] as const;
const TYPE: Record<(typeof FORMATS)[number], string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tiff: 'image/tiff',
};

const structured = (attrs: Record<string, unknown>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/cloudevents+json' },
  body: JSON.stringify(attrs),
});

const base = { specversion: '1.0', id: 'battery', source: '/battery', type: 'yolo.detection.requested' };

/** A deterministic pseudo-random byte stream (the battery is the same on every run). */
function bytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A JPEG whose SOF marker declares `w` x `h`: the header of a bomb, without the pixels. */
async function jpegClaiming(w: number, h: number): Promise<Buffer> {
  const jpeg = Buffer.from(
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#888' } })
      .jpeg()
      .toBuffer(),
  );
  for (let i = 2; i < jpeg.length - 9; i++) {
    if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) {
      jpeg.writeUInt16BE(h, i + 5);
      jpeg.writeUInt16BE(w, i + 7);
      return jpeg;
    }
  }
  throw new Error('no SOF marker');
}

export async function badCases(maxImageBytes: number, seed = 7): Promise<BadCase[]> {
  const cases: BadCase[] = [];
  const add = (name: string, init: RequestInit): void => {
    cases.push({ name, init });
  };
  const source = await sharp({ create: { width: 96, height: 72, channels: 3, background: '#3a7' } })
    .composite([
      {
        input: await sharp({ create: { width: 30, height: 30, channels: 3, background: '#f00' } })
          .png()
          .toBuffer(),
        left: 20,
        top: 20,
      },
    ])
    .png()
    .toBuffer();
  const images: Record<string, Buffer> = {};
  for (const f of FORMATS) images[f] = await sharp(source)[f]().toBuffer();
  let n = 0;

  // Truncated images of each format, at twenty cut points, in binary and structured mode. (Cutting only the
  // last few bytes of a PNG removes its end marker but no pixels: libpng decodes that, rightly.)
  for (const f of FORMATS) {
    for (const frac of [
      0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95,
    ]) {
      const cut = images[f]!.subarray(0, Math.max(1, Math.floor(images[f]!.length * frac)));
      add(`truncated ${f} at ${frac}`, binaryEvent(`b${n++}`, cut, TYPE[f]));
      add(
        `truncated ${f} at ${frac}, structured`,
        structured({ ...base, id: `s${n++}`, datacontenttype: TYPE[f], data_base64: cut.toString('base64') }),
      );
    }
    // The format's magic bytes destroyed: no decoder recognises it.
    for (let k = 0; k < 8; k++) {
      const broken = Buffer.concat([bytes(16, seed + k), images[f]!.subarray(16)]);
      add(`${f} with a garbage header #${k}`, binaryEvent(`h${n++}`, broken, TYPE[f]));
    }
  }
  // Zero bytes and random bytes under every accepted type.
  for (const type of [...Object.values(TYPE), 'image/jpg', 'image/avif', 'image/heic', 'image/heif']) {
    add(`zero bytes as ${type}`, binaryEvent(`z${n++}`, Buffer.alloc(0), type));
    add(
      `zero bytes as ${type}, structured`,
      structured({ ...base, id: `z${n++}`, datacontenttype: type, data_base64: '' }),
    );
    for (let k = 0; k < 3; k++)
      add(`random bytes #${k} as ${type}`, binaryEvent(`r${n++}`, bytes(500 + 997 * k, seed * 31 + k), type));
  }
  // A valid image with a lying content type.
  for (const f of FORMATS) {
    for (const g of FORMATS) {
      if (f !== g) add(`${f} sent as ${TYPE[g]}`, binaryEvent(`l${n++}`, images[f]!, TYPE[g]));
    }
  }
  // Polyglots: an image's magic bytes in front of something else.
  const payloads = {
    html: '<html><script>alert(1)</script></html>',
    pdf: '%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF',
    zip: 'PK\u0003\u0004\u0014\u0000\u0000\u0000\u0008\u0000',
    svg: '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    shell: '#!/bin/sh\nrm -rf /\n',
  };
  for (const f of FORMATS) {
    for (const [what, text] of Object.entries(payloads)) {
      add(
        `${f} magic + ${what}`,
        binaryEvent(`p${n++}`, Buffer.concat([images[f]!.subarray(0, 12), Buffer.from(text)]), TYPE[f]),
      );
    }
  }
  for (const [what, text] of Object.entries(payloads))
    add(`${what} as image/png`, binaryEvent(`p${n++}`, text, 'image/png'));
  // Decompression bombs: huge declared dimensions, and a real image of too many pixels that compresses to little.
  for (const [w, h] of [
    [20000, 20000],
    [65535, 65535],
    [100000, 1000],
    [1, 2 ** 31 - 1],
    [50000, 50000],
  ] as const) {
    add(`PNG claiming ${w}x${h}`, binaryEvent(`d${n++}`, pngClaiming(w, h), 'image/png'));
  }
  for (const [w, h] of [
    [65000, 65000],
    [30000, 2000],
  ] as const) {
    add(`JPEG claiming ${w}x${h}`, binaryEvent(`d${n++}`, await jpegClaiming(w, h), 'image/jpeg'));
  }
  const deep = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: '#000' } })
    .png({ compressionLevel: 9 })
    .toBuffer();
  add(`a real 8000x6000 PNG of ${deep.length} bytes`, binaryEvent(`d${n++}`, deep, 'image/png'));
  // Oversized bodies.
  for (const extra of [1, 1000, maxImageBytes]) {
    add(
      `${maxImageBytes + extra} bytes of JPEG-looking data`,
      binaryEvent(`o${n++}`, Buffer.alloc(maxImageBytes + extra, 0xff), 'image/jpeg'),
    );
  }
  // Malformed CloudEvents: each required attribute missing, bad versions, bad time, bad structured JSON.
  for (const attr of ['id', 'source', 'type', 'specversion']) {
    const init = pathEvent(`m${n++}`, { path: 'zidane.jpg' });
    delete (init.headers as Record<string, string>)[`ce-${attr}`];
    if (attr !== 'id') add(`binary without ce-${attr}`, init);
    const e: Record<string, unknown> = { ...base, id: `m${n++}`, data: { path: 'zidane.jpg' } };
    delete e[attr];
    add(`structured without ${attr}`, structured(e));
    add(
      `structured with an empty ${attr}`,
      structured({ ...base, id: `m${n++}`, [attr]: '', data: { path: 'zidane.jpg' } }),
    );
    add(
      `structured with a numeric ${attr}`,
      structured({ ...base, id: `m${n++}`, [attr]: 7, data: { path: 'zidane.jpg' } }),
    );
  }
  const missingId = pathEvent('x', { path: 'zidane.jpg' });
  delete (missingId.headers as Record<string, string>)['ce-id'];
  add('binary without ce-id', missingId);
  // HTTP trims spaces around header values, so " 1.0" is "1.0" in binary mode; in JSON it stays wrong.
  for (const v of ['0.3', '2.0', '1', '1.0.0', 'latest']) {
    add(`specversion ${JSON.stringify(v)}`, pathEvent(`v${n++}`, { path: 'zidane.jpg' }, { 'ce-specversion': v }));
  }
  for (const v of ['0.3', '2.0', '1', '1.0.0', ' 1.0', '1.0 ', 'latest', 1, null]) {
    add(
      `structured specversion ${JSON.stringify(v)}`,
      structured({ ...base, id: `v${n++}`, specversion: v, data: { path: 'zidane.jpg' } }),
    );
  }
  for (const time of ['yesterday', '2026-13-45T99:99:99Z', '12345', 'T']) {
    add(`time ${time}`, pathEvent(`t${n++}`, { path: 'zidane.jpg' }, { 'ce-time': time }));
  }
  for (const type of ['yolo.detection.completed', 'com.example.other', 'YOLO.DETECTION.REQUESTED', 'yolo.detection']) {
    add(`type ${JSON.stringify(type)}`, pathEvent(`w${n++}`, { path: 'zidane.jpg' }, { 'ce-type': type }));
    add(
      `structured type ${JSON.stringify(type)}`,
      structured({ ...base, id: `w${n++}`, type, data: { path: 'zidane.jpg' } }),
    );
  }
  add(
    'structured type with a trailing space',
    structured({ ...base, id: `w${n++}`, type: 'yolo.detection.requested ', data: { path: 'zidane.jpg' } }),
  );
  for (const body of [
    '',
    '{',
    '{"specversion":"1.0"',
    '[]',
    'null',
    '42',
    '"text"',
    '{"specversion":"1.0",}',
    '\u0000\u0001',
    '[{"specversion":"1.0"}]',
  ]) {
    add(`structured body ${JSON.stringify(body)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body,
    });
  }
  add('a batch of events', {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents-batch+json' },
    body: '[]',
  });
  add('not a CloudEvent at all', {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg' },
    body: images.jpeg! as BodyInit,
  });
  add(
    'structured image in data, not data_base64',
    structured({ ...base, id: 'x', datacontenttype: 'image/png', data: 'iVBORw0KGgo=' }),
  );
  add(
    'structured invalid base64',
    structured({ ...base, id: 'x', datacontenttype: 'image/png', data_base64: '!!not base64!!' }),
  );
  add(
    'structured data_base64 without a type',
    structured({ ...base, id: 'x', data_base64: images.png!.toString('base64') }),
  );
  for (const type of [
    'text/plain',
    'application/octet-stream',
    'video/mp4',
    'application/xml',
    'multipart/form-data',
  ]) {
    add(`binary ${type}`, binaryEvent(`c${n++}`, images.jpeg!, type));
    add(
      `structured ${type}`,
      structured({ ...base, id: `c${n++}`, datacontenttype: type, data_base64: images.jpeg!.toString('base64') }),
    );
  }
  add('binary without a content type', {
    method: 'POST',
    headers: { ...(binaryEvent('x', 'a', 'x').headers as Record<string, string>), 'content-type': '' },
    body: 'a',
  });
  // Hostile paths.
  const paths: unknown[] = [
    '../../etc/passwd',
    '../input/zidane.jpg',
    'uploads/../../etc/passwd',
    './../zidane.jpg',
    '..',
    '../',
    '..\\..\\windows\\win.ini',
    'a/b/../../../etc/shadow',
    '/etc/passwd',
    '/data/input/zidane.jpg',
    '//server/share/x.jpg',
    '\\\\server\\share\\x.jpg',
    'C:\\Windows\\win.ini',
    'c:/windows/win.ini',
    'zidane.jpg\u0000.png',
    '\u0000',
    'uploads/\u0000/x',
    '',
    'escape.jpg',
    'escape-dir/zidane.jpg',
    'loop',
    'a-directory',
    'a-directory/',
    '.',
    'a-fifo',
    'a-device',
    'missing.jpg',
    'uploads/missing/deep/file.jpg',
    'zidane.jpg/child',
    7,
    null,
    true,
    ['zidane.jpg'],
    { file: 'zidane.jpg' },
  ];
  for (const p of paths) {
    add(`path ${JSON.stringify(p)}`, pathEvent(`q${n++}`, { path: p }));
    add(
      `path ${JSON.stringify(p)}, structured`,
      structured({ ...base, id: `q${n++}`, datacontenttype: 'application/json', data: { path: p } }),
    );
  }
  add('data without a path', pathEvent(`q${n++}`, { file: 'zidane.jpg' }));
  for (const data of ['null', '[]', '"zidane.jpg"', '42', '{"path":', 'true']) {
    add(`JSON data ${data}`, binaryEvent(`j${n++}`, data, 'application/json'));
  }
  // Invalid options.
  const options: Record<string, unknown[]> = {
    conf: [-0.1, 1.01, 2, '0.5', null, [], {}, 'high', Number.MAX_VALUE],
    iou: [-1, 1.5, '0.7', null, [0.5], false],
    maxDetections: [0, -5, 1.5, 10001, '10', null, 1e9],
    classes: [
      [],
      'person',
      [1],
      [''],
      ['   '],
      [null],
      [{}],
      ['unicorn'],
      ['person', 'unicorn'],
      ['x'.repeat(300)],
      {},
    ],
    annotate: ['yes', 1, 0, null, 'false', []],
    confidence: [0.5],
    threshold: [0.5],
    PATH: ['zidane.jpg'],
  };
  for (const [option, values] of Object.entries(options)) {
    for (const v of values) {
      add(`option ${option}=${JSON.stringify(v)}`, pathEvent(`k${n++}`, { path: 'zidane.jpg', [option]: v }));
    }
  }
  return cases;
}
