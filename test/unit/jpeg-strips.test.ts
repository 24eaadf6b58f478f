import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type JpegOptions } from 'sharp';
import t from 'tap';
import { encodeImage } from '../../func/detector/core/annotate.js';
import { configureCodecs, decodeForDrawing, readHeader } from '../../func/detector/core/decode.js';
import {
  ANNOTATED_JPEG,
  encodeJpeg,
  encodeJpegWhole,
  splice,
  stripCount,
} from '../../func/detector/core/jpeg-strips.js';
import { IMAGES } from '../support/paths.js';

/** A JPEG encoded in strips at once decodes to exactly the pixels of the same image encoded in one call. */

/** Decoded strictly (libjpeg's warnings, a restart marker out of place say, fail it), as stored. */
const strictly = (jpeg: Buffer): Promise<Buffer> =>
  sharp(jpeg, { failOn: 'warning', ignoreIcc: true }).raw().toBuffer();

/** Every marker outside the SOS segment's own header: what a decoder sees after the tables. */
function markers(jpeg: Buffer): { restarts: number[]; interval: number | undefined; height: number } {
  const restarts: number[] = [];
  let interval: number | undefined;
  let height = -1;
  let at = 2;
  for (;;) {
    const marker = jpeg[at + 1]!;
    const length = jpeg.readUInt16BE(at + 2);
    if (marker === 0xdd) interval = jpeg.readUInt16BE(at + 4);
    if (marker === 0xc0) height = jpeg.readUInt16BE(at + 5);
    at += 2 + length;
    if (marker === 0xda) break;
  }
  for (; at < jpeg.length - 1; at++) {
    if (jpeg[at] === 0xff && jpeg[at + 1]! >= 0xd0 && jpeg[at + 1]! <= 0xd7) restarts.push(jpeg[at + 1]! - 0xd0);
  }
  return { restarts, interval, height };
}

async function rgb(input: Parameters<typeof sharp>[0], width: number, height: number) {
  const pixels = await sharp(input).resize(width, height, { fit: 'cover' }).removeAlpha().raw().toBuffer();
  return { pixels, width, height };
}

t.test('a 12 MP photo in 2, 3 and 4 strips: the pixels of one encode, restart markers in order', async (t) => {
  const image = await rgb(await readFile(path.join(IMAGES, 'bus.jpg')), 4032, 3024);
  const whole = await encodeJpegWhole(image);
  const expected = await strictly(whole);
  for (const strips of [2, 3, 4]) {
    const jpeg = await encodeJpeg(image, strips);
    t.ok((await strictly(jpeg)).equals(expected), `${strips} strips: decoded, every pixel as the one encode's`);
    const { restarts, interval, height } = markers(jpeg);
    t.same(restarts, [0, 1, 2].slice(0, strips - 1), `${strips} strips: ${strips - 1} restarts, RST0 first`);
    t.equal(interval, 252 * Math.ceil(3024 / strips / 16), 'restart interval: one strip of 16-row MCU rows');
    t.equal(height, 3024, 'the frame has the whole height');
    t.ok(Math.abs(jpeg.length - whole.length) < 1000, `about the size of one encode (${jpeg.length})`);
  }
});

t.test('sizes that are no multiple of an MCU, and more strips than there are restart marker numbers', async (t) => {
  const zidane = await readFile(path.join(IMAGES, 'zidane.jpg'));
  for (const [width, height, strips] of [
    [1001, 2999, 3],
    [2047, 1999, 4],
    [3001, 161, 2],
  ] as const) {
    const image = await rgb(zidane, width, height);
    const jpeg = await encodeJpeg(image, strips);
    t.ok((await strictly(jpeg)).equals(await strictly(await encodeJpegWhole(image))), `${width}x${height}`);
    t.equal(markers(jpeg).restarts.length, strips - 1, `${width}x${height}: ${strips} strips`);
  }
  // Ten strips of 16 rows: restart markers count 0 to 7 and start again.
  const image = await rgb(zidane, 640, 160);
  const jpeg = await encodeJpeg(image, 10);
  t.same(markers(jpeg).restarts, [0, 1, 2, 3, 4, 5, 6, 7, 0], 'RST0 to RST7, then RST0 again');
  t.ok((await strictly(jpeg)).equals(await strictly(await encodeJpegWhole(image))), 'the same pixels');
});

t.test('a restart interval is 16 bits: an image wider than 4,096 MCUs a strip gets lower strips', async (t) => {
  // 16,000 pixels wide is 1,000 MCUs a row: at most 65 MCU rows (1,040 pixels) fit one interval.
  const width = 16_000;
  const height = 2_200;
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + ((i / (width * 3)) | 0)) & 0xff;
  const image = { pixels, width, height };
  const jpeg = await encodeJpeg(image, 2);
  const { restarts, interval } = markers(jpeg);
  t.equal(interval, 65_000, 'the interval is the most MCU rows that fit 16 bits');
  t.same(restarts, [0, 1], 'so two strips became three');
  t.ok((await strictly(jpeg)).equals(await strictly(await encodeJpegWhole(image))), 'the same pixels');
});

t.test('strips that do not share one header are not spliced', async (t) => {
  const image = await rgb(await readFile(path.join(IMAGES, 'bus.jpg')), 640, 320);
  const band = (y: number, options: JpegOptions) =>
    sharp(image.pixels.subarray(y * 640 * 3, (y + 160) * 640 * 3), { raw: { width: 640, height: 160, channels: 3 } })
      .jpeg(options)
      .toBuffer();
  const plain = ANNOTATED_JPEG;
  t.ok(splice([await band(0, plain), await band(160, plain)], 320, 400), 'the same settings: spliced');
  const cases: [string, JpegOptions][] = [
    ['another quality', { ...plain, quality: 80 }],
    ['Huffman tables of its own', { ...plain, optimiseCoding: true }],
    ['no chroma subsampling', { ...plain, chromaSubsampling: '4:4:4' }],
    ['progressive', { ...plain, progressive: true }],
  ];
  for (const [name, options] of cases) {
    t.equal(splice([await band(0, plain), await band(160, options)], 320, 400), undefined, name);
  }
});

t.test('how many strips: one per codec thread, up to four, none for an image too small to gain', async (t) => {
  t.equal(stripCount(810, 1080, 2), 1, 'bus.jpg: one call');
  t.equal(stripCount(4032, 3024, 1), 1, 'one codec thread: one call');
  t.equal(stripCount(4032, 3024, 2), 2);
  t.equal(stripCount(4032, 3024, 16), 4, "libuv's four pool threads");
  t.equal(stripCount(2000, 2000, 16), 2, 'at least 2 MP a strip');
  t.equal(stripCount(100_000, 20, 4), 1, 'a strip is at least one MCU row high');
});

t.test("the annotated image: a photo's JPEG in strips with two codec threads, its colour profile kept", async (t) => {
  configureCodecs(2);
  const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
  const photo = await sharp(bus).resize(4032, 3024, { fit: 'cover' }).keepIccProfile().jpeg().toBuffer();
  const limits = { maxPixels: 40_000_000 };
  const image = await decodeForDrawing(photo, await readHeader(photo, limits), limits);
  const jpeg = await encodeImage(image, 'jpeg');
  t.same(markers(jpeg).restarts, [0], 'two strips');
  t.ok((await sharp(jpeg).metadata()).icc?.equals(image.icc!), 'the Display P3 profile, as the input had it');
  t.ok((await strictly(jpeg)).equals(await strictly(await encodeJpegWhole(image))), 'the pixels of one encode');
});
