import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { annotatedFormatFor, encodeImage } from '../../func/detector/core/annotate.js';
import { decodeForDrawing, decodeFull, modelPixels, readHeader } from '../../func/detector/core/decode.js';
import { embedInJpeg, embedInPng, rgbProfile } from '../../func/detector/core/icc-profile.js';
import { IMAGES } from '../support/paths.js';

/** Colour profiles: a photo's drawing decoded as stored, its profile carried to the annotated image. */

const LIMITS = { maxPixels: 40_000_000 };
const meanAbsDiff = (a: Buffer, b: Buffer): number => {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
};

t.test('an image decoded for drawing keeps its stored values and its profile; the model input is sRGB', async (t) => {
  const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
  const meta = await sharp(bus).metadata();
  // bus.jpg is an iPhone photo: its description tag says Display P3.
  t.ok(meta.icc?.includes('Display P3', 0, 'latin1'), 'bus.jpg has a Display P3 profile');
  const header = await readHeader(bus, LIMITS);
  const drawn = await decodeForDrawing(bus, header, LIMITS);
  t.ok(drawn.icc?.equals(meta.icc!), 'the decoded image keeps the profile its pixels are in');
  t.ok(drawn.pixels.equals(await sharp(bus, { ignoreIcc: true }).raw().toBuffer()), 'the values the file stores');
  const converted = await sharp(bus).raw().toBuffer();
  t.ok(meanAbsDiff(drawn.pixels, converted) > 1, 'not the Display P3 to sRGB conversion, which moves them');
  // The model's input is in sRGB, as the reference detections in ../shared/README.md were made. This profile is
  // converted after the resize (srgb-transform.ts), so the one full decode keeps the stored values and the profile.
  const model = await decodeFull(bus, header, LIMITS);
  t.ok(model.pixels.equals(drawn.pixels) && model.icc?.equals(meta.icc!), 'decoded once, as stored');
  const atFullSize = await modelPixels(model, { width: model.width, height: model.height });
  let largest = 0;
  for (let i = 0; i < converted.length; i++) largest = Math.max(largest, Math.abs(atFullSize[i]! - converted[i]!));
  t.ok(largest <= 1, `the model's pixels at full size are the sRGB conversion within one level (${largest})`);
  t.ok(model.pixels.equals(drawn.pixels), 'converted into a copy: the drawing keeps the stored values');
});

t.test('the annotated image carries the input profile: shown colour-managed, it looks like the input', async (t) => {
  const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
  const image = await decodeForDrawing(bus, await readHeader(bus, LIMITS), LIMITS);
  const shownInput = await sharp(bus).raw().toBuffer();
  for (const format of ['png', 'jpeg'] as const) {
    const out = await encodeImage(image, format);
    const meta = await sharp(out).metadata();
    t.equal(meta.format, format);
    t.ok(meta.icc?.equals(image.icc!), `${format}: the profile is read back whole`);
    const shown = await sharp(out).raw().toBuffer();
    const shownWithout = await sharp(out, { ignoreIcc: true }).raw().toBuffer();
    // PNG is lossless: colour-managed, its pixels are the input's exactly. JPEG adds its own loss either way.
    if (format === 'png') t.equal(meanAbsDiff(shown, shownInput), 0, 'png: colour-managed, the same pixels');
    t.ok(
      meanAbsDiff(shown, shownInput) < meanAbsDiff(shownWithout, shownInput),
      `${format}: closer to the input with its profile than without`,
    );
  }
});

t.test('a WebP photo with a profile: drawn as stored, annotated as a PNG that carries it', async (t) => {
  const webp = await sharp(path.join(IMAGES, 'bus.jpg')).resize(2000).keepIccProfile().webp().toBuffer();
  const header = await readHeader(webp, LIMITS);
  t.equal(header.format, 'webp');
  t.ok(header.icc?.includes('Display P3', 0, 'latin1'), 'the WebP keeps the Display P3 profile');
  const drawn = await decodeForDrawing(webp, header, LIMITS);
  t.ok(drawn.pixels.equals(await sharp(webp, { ignoreIcc: true }).raw().toBuffer()), 'the values the file stores');
  const png = await encodeImage(drawn, annotatedFormatFor(header.format));
  t.ok((await sharp(png).metadata()).icc?.equals(header.icc!), 'the annotated PNG carries the profile');
});

t.test('images without an RGB profile are converted and get none', async (t) => {
  const zidane = await readFile(path.join(IMAGES, 'zidane.jpg'));
  const zidaneHeader = await readHeader(zidane, LIMITS);
  t.equal(zidaneHeader.icc, undefined, 'zidane.jpg has no profile');
  const out = await encodeImage(await decodeForDrawing(zidane, zidaneHeader, LIMITS), 'jpeg');
  t.equal((await sharp(out).metadata()).icc, undefined);
  // A CMYK JPEG is converted to sRGB on decode: its CMYK profile would describe the wrong pixels.
  const cmyk = await sharp(path.join(IMAGES, 'bus.jpg')).withIccProfile('cmyk').jpeg().toBuffer();
  const cmykMeta = await sharp(cmyk).metadata();
  t.equal(cmykMeta.space, 'cmyk');
  t.equal(cmykMeta.icc?.toString('latin1', 16, 20), 'CMYK', 'sharp wrote its CMYK profile');
  const header = await readHeader(cmyk, LIMITS);
  const drawn = await decodeForDrawing(cmyk, header, LIMITS);
  t.equal(drawn.icc, undefined);
  t.ok(drawn.pixels.equals((await decodeFull(cmyk, header, LIMITS)).pixels), 'converted to sRGB, as for the model');
  const rgbHeader = Buffer.alloc(128);
  rgbHeader.write('RGB ', 16, 'latin1');
  t.ok(rgbProfile(rgbHeader, 'srgb'));
  t.equal(rgbProfile(rgbHeader, 'b-w'), undefined, 'an RGB profile on a grey image');
  t.equal(rgbProfile(rgbHeader.subarray(0, 100), 'srgb'), undefined, 'shorter than an ICC header');
});

t.test('a profile over one JPEG segment is split and reassembled', async (t) => {
  const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
    .jpeg()
    .toBuffer();
  const { icc } = await sharp(await readFile(path.join(IMAGES, 'bus.jpg'))).metadata();
  // 150 KB: three APP2 segments (65,519 bytes each at most).
  const big = Buffer.concat([icc!, Buffer.alloc(150_000 - icc!.length, 7)]);
  const out = embedInJpeg(jpeg, big);
  t.ok((await sharp(out).metadata()).icc?.equals(big), 'libvips reads the three segments back as one profile');
  t.same([...out.subarray(0, 4)], [0xff, 0xd8, 0xff, 0xe2], 'the segments right after SOI');
  // A JFIF file's APP0 segment must follow SOI: the profile goes after it.
  const app0 = Buffer.from([0xff, 0xe0, 0, 16, ...Buffer.from('JFIF\0', 'latin1'), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  const jfif = embedInJpeg(Buffer.concat([jpeg.subarray(0, 2), app0, jpeg.subarray(2)]), icc!);
  t.same([...jfif.subarray(2, 4), ...jfif.subarray(20, 22)], [0xff, 0xe0, 0xff, 0xe2], 'APP0 first, then APP2');
  t.ok((await sharp(jfif).metadata()).icc?.equals(icc!));
  const tooBig = Buffer.alloc(256 * 65_519, 1);
  t.equal(embedInJpeg(jpeg, tooBig), jpeg, 'over 255 segments: left out');
});

t.test('a PNG that already says how to show its colours is left as it is', async (t) => {
  const { icc } = await sharp(await readFile(path.join(IMAGES, 'bus.jpg'))).metadata();
  const tagged = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
    .withIccProfile('p3')
    .png()
    .toBuffer();
  t.ok((await sharp(tagged).metadata()).icc, 'sharp wrote an iCCP chunk');
  t.equal(embedInPng(tagged, icc!), tagged);
  t.equal(embedInPng(Buffer.from('not a png'), icc!).toString(), 'not a png');
});
