import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { embedInPng } from '../../func/detector/core/icc-profile.js';
import { LIBVIPS_SRGB, srgbTransformFor, srgbTransformOf } from '../../func/detector/core/srgb-transform.js';
import { IMAGES } from '../support/paths.js';

/**
 * The service's own conversion of a matrix/TRC profile to sRGB, held to what sharp (libvips, lcms) makes of the same
 * pixels with the same profile: the conversion it replaces on the model's input.
 */

/** A built-in profile of libvips, as sharp embeds it in an image it writes. */
async function libvipsProfile(name: string): Promise<Buffer> {
  const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#808080' } })
    .withIccProfile(name)
    .png()
    .toBuffer();
  return (await sharp(png).metadata()).icc!;
}

function tagOf(icc: Buffer, signature: string): Buffer {
  for (let i = 0; i < icc.readUInt32BE(128); i++) {
    const entry = 132 + 12 * i;
    if (icc.toString('latin1', entry, entry + 4) === signature) {
      const offset = icc.readUInt32BE(entry + 4);
      return icc.subarray(offset, offset + icc.readUInt32BE(entry + 8));
    }
  }
  throw new Error(`no ${signature} tag`);
}

/** `icc` with its three TRC tags replaced by `curve`, and optionally one tag more: a profile lcms reads as any. */
function withCurves(icc: Buffer, curve: Buffer, extraTag?: string): Buffer {
  const count = icc.readUInt32BE(128);
  const table = Buffer.alloc(4 + 12 * (count + (extraTag ? 1 : 0)));
  const tail = Buffer.alloc(4 - (icc.length % 4 || 4));
  const curveAt = icc.length + tail.length + (table.length - (4 + 12 * count));
  table.writeUInt32BE(count + (extraTag ? 1 : 0), 0);
  for (let i = 0; i < count; i++) {
    const entry = 132 + 12 * i;
    const signature = icc.toString('latin1', entry, entry + 4);
    icc.copy(table, 4 + 12 * i, entry, entry + 12);
    if (signature.endsWith('TRC')) {
      table.writeUInt32BE(curveAt, 4 + 12 * i + 4);
      table.writeUInt32BE(curve.length, 4 + 12 * i + 8);
    }
  }
  if (extraTag) {
    table.write(extraTag, 4 + 12 * count, 'latin1');
    table.writeUInt32BE(curveAt, 4 + 12 * count + 4);
    table.writeUInt32BE(curve.length, 4 + 12 * count + 8);
  }
  // A larger tag table moves every tag: shift their offsets, then append the curve.
  const shift = table.length - (4 + 12 * count);
  for (let i = 0; i < count; i++) {
    const at = 4 + 12 * i + 4;
    if (table.readUInt32BE(at) !== curveAt) table.writeUInt32BE(table.readUInt32BE(at) + shift, at);
  }
  // lcms refuses a profile whose tag data runs to an odd end: pad it to four bytes, as tags are laid out.
  const pad = Buffer.alloc((4 - (curve.length % 4)) % 4);
  const out = Buffer.concat([icc.subarray(0, 128), table, icc.subarray(132 + 12 * count), tail, curve, pad]);
  out.writeUInt32BE(out.length, 0);
  out.fill(0, 84, 100); // the profile ID (an MD5 over the profile) no longer holds
  return out;
}

const curv = (values: number[]): Buffer => {
  const b = Buffer.alloc(12 + 2 * values.length);
  b.write('curv', 0, 'latin1');
  b.writeUInt32BE(values.length, 8);
  values.forEach((v, i) => b.writeUInt16BE(v, 12 + 2 * i));
  return b;
};
const para = (type: number, params: number[]): Buffer => {
  const b = Buffer.alloc(12 + 4 * params.length);
  b.write('para', 0, 'latin1');
  b.writeUInt16BE(type, 8);
  params.forEach((v, i) => b.writeInt32BE(Math.round(v * 65536), 12 + 4 * i));
  return b;
};

/** 64 levels of each channel, every combination: 262,144 colours in a 512x512 image. */
const GRID = (() => {
  const px = Buffer.alloc(512 * 512 * 3);
  for (let i = 0; i < 512 * 512; i++) {
    px[3 * i] = ((i >> 12) & 63) * 4 + 3;
    px[3 * i + 1] = ((i >> 6) & 63) * 4 + 1;
    px[3 * i + 2] = (i & 63) * 4;
  }
  return px;
})();

/** Largest and mean difference between the service's conversion of GRID and sharp's, for one profile. */
async function againstSharp(icc: Buffer): Promise<{ max: number; mean: number }> {
  const png = embedInPng(
    await sharp(GRID, { raw: { width: 512, height: 512, channels: 3 } })
      .png()
      .toBuffer(),
    icc,
  );
  const bySharp = await sharp(png).raw().toBuffer();
  const ours = srgbTransformFor(icc)!.convert(Buffer.from(GRID));
  let max = 0;
  let sum = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i]! - bySharp[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / ours.length };
}

t.test("the sRGB it converts into is libvips' own profile, read from sharp", async (t) => {
  const srgb = await libvipsProfile('srgb');
  for (const [i, signature] of ['rXYZ', 'gXYZ', 'bXYZ'].entries()) {
    const tag = tagOf(srgb, signature);
    t.same(
      [8, 12, 16].map((at) => tag.readInt32BE(at)),
      LIBVIPS_SRGB.colorants[i],
      signature,
    );
  }
  const curve = tagOf(srgb, 'rTRC');
  t.equal(curve.readUInt16BE(8), 3, 'a type 3 parametric curve');
  t.same(
    [0, 1, 2, 3, 4].map((k) => curve.readInt32BE(12 + 4 * k)),
    LIBVIPS_SRGB.curve,
  );
  const transform = srgbTransformFor(srgb);
  t.ok(transform?.identity, 'sRGB to sRGB changes nothing');
  const copy = new Uint8Array(GRID.length);
  t.same(Buffer.from(transform!.convert(GRID, copy)), GRID, 'and copies when given somewhere else to write');
});

t.test("bus.jpg's Display P3 profile: as sharp converts the photo, within one level", async (t) => {
  const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
  const icc = (await sharp(bus).metadata()).icc!;
  const transform = srgbTransformFor(icc);
  t.ok(transform, 'a matrix/TRC profile');
  t.notOk(transform!.identity);
  const converted = await sharp(bus).raw().toBuffer();
  const ours = transform!.convert(await sharp(bus, { ignoreIcc: true }).raw().toBuffer());
  let max = 0;
  let moved = 0;
  for (let i = 0; i < ours.length; i++) {
    max = Math.max(max, Math.abs(ours[i]! - converted[i]!));
    if (ours[i] !== converted[i]) moved++;
  }
  t.ok(max <= 1, `largest difference ${max}`);
  t.ok(moved / ours.length < 0.05, `${((100 * moved) / ours.length).toFixed(2)}% of values one level off`);
  const grid = await againstSharp(icc);
  t.ok(grid.max <= 1, `every colour of the grid within one level (largest ${grid.max}, mean ${grid.mean})`);
});

t.test('each kind of tone curve, as lcms reads it', async (t) => {
  const p3 = await libvipsProfile('p3');
  const cases: [string, Buffer][] = [
    ["libvips' Display P3 (parametric type 3)", p3],
    ['identity (curv, no entries)', withCurves(p3, curv([]))],
    ['gamma 2.2 (curv, one entry: Adobe RGB)', withCurves(p3, curv([563]))],
    [
      'a 1024-entry table',
      withCurves(p3, curv(Array.from({ length: 1024 }, (_, i) => Math.round(65535 * (i / 1023) ** 1.8)))),
    ],
    ['parametric type 0', withCurves(p3, para(0, [2.2]))],
    ['parametric type 1', withCurves(p3, para(1, [2.0, 1.05, -0.05]))],
    ['parametric type 2', withCurves(p3, para(2, [2.0, 1.0, 0, 0]))],
    ['parametric type 3 (sRGB-like)', withCurves(p3, para(3, [2.2, 0.95, 0.05, 0.1, 0.05]))],
    ['parametric type 4', withCurves(p3, para(4, [2.4, 0.9, 0.1, 0.08, 0.05, 0, 0]))],
  ];
  for (const [name, icc] of cases) {
    t.ok(srgbTransformFor(icc), `${name}: read`);
    const { max, mean } = await againstSharp(icc);
    t.ok(max <= 1 && mean < 0.05, `${name}: largest difference ${max}, mean ${mean.toFixed(4)}`);
  }
});

t.test('profiles it does not convert are left to sharp', async (t) => {
  const p3 = await libvipsProfile('p3');
  t.equal(srgbTransformFor(undefined), undefined);
  t.equal(srgbTransformFor(await libvipsProfile('cmyk')), undefined, 'CMYK');
  t.equal(srgbTransformFor(withCurves(p3, curv([563]), 'A2B0')), undefined, 'with a lookup table lcms would use');
  // Black above zero: lcms compensates for it (measured: these differ from it by up to 29 levels).
  t.equal(srgbTransformFor(withCurves(p3, para(2, [2.0, 0.95, 0.05, 0.01]))), undefined, 'type 2, black at 0.01');
  t.equal(srgbTransformFor(withCurves(p3, para(4, [2.4, 0.9, 0.1, 0.08, 0.05, 0, 0.005]))), undefined, 'type 4');
  t.equal(srgbTransformFor(withCurves(p3, Buffer.from('text\0\0\0\0hello'))), undefined, 'a curve of an unknown type');
  t.equal(srgbTransformFor(p3.subarray(0, 200)), undefined, 'cut short');
  t.equal(srgbTransformFor(Buffer.alloc(600)), undefined, 'zeros');
  t.throws(() => srgbTransformFor(p3)!.convert(new Uint8Array(4)), RangeError, 'not whole pixels');
});

t.test('a profile seen before is not read again', async (t) => {
  const p3 = await libvipsProfile('p3');
  const first = srgbTransformOf(p3);
  t.ok(first);
  t.equal(srgbTransformOf(Buffer.from(p3)), first, 'the same bytes: the same transform');
  t.not(srgbTransformOf(await libvipsProfile('srgb')), first);
  t.equal(srgbTransformOf(await libvipsProfile('cmyk')), undefined);
  t.equal(srgbTransformOf(undefined), undefined);
});
