import type { DecodedImage } from './decode.js';
import sharp from './sharp-cjs.js';

/**
 * sharp's settings for every annotated JPEG. Huffman-table optimisation (sharp's default) is two thirds of the
 * encode (12 MP: 92 → 31 ms measured, the file 2% larger): not worth it for an annotated copy. Without it every
 * encode writes the standard tables, which is also what lets strips encoded apart share one header (below).
 */
export const ANNOTATED_JPEG = { quality: 90, optimiseCoding: false } as const;

/**
 * Strips of at least this many pixels. Below it a lone image gains about a millisecond (bus.jpg 6.0–7.2 → 5.4–6.4
 * ms in two strips, 2 MP 8.8–9.5 → 7.7–8.3; 4.3 MP 16.3–17.6 → 13.2–13.3), while a busy pod, whose cores are taken
 * anyway, would pay each request a second call and the splice.
 */
const MIN_STRIP_PIXELS = 2_000_000;
/** Each strip is encoded on one of libuv's pool threads, of which there are four unless UV_THREADPOOL_SIZE is set. */
const MAX_STRIPS = 4;
/** The MCU of sharp's 4:2:0 chroma subsampling is 16 x 16: strips are whole rows of MCUs. */
const MCU = 16;

const SOI = 0xd8;
const SOF0 = 0xc0;
const DRI = 0xdd;
const SOS = 0xda;
const EOI = 0xd9;
const RST0 = 0xd0;

/** Packed 8-bit RGB pixels: a decoded image, or a band of its rows. */
export type RgbPixels = Pick<DecodedImage, 'pixels' | 'width' | 'height'>;

/** The image as one JPEG, encoded in one call: what the strips must decode to, and the bench's floor. */
export function encodeJpegWhole(image: RgbPixels): Promise<Buffer> {
  const { pixels, width, height } = image;
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg(ANNOTATED_JPEG)
    .toBuffer();
}

/** How many strips to encode an image in with `threads` codec threads: 1 for an image too small to gain. */
export function stripCount(width: number, height: number, threads: number): number {
  const byPixels = Math.floor((width * height) / MIN_STRIP_PIXELS);
  return Math.max(1, Math.min(threads, MAX_STRIPS, byPixels, Math.floor(height / MCU)));
}

/**
 * The image as one baseline JPEG whose bands of rows are encoded at once, each by its own libjpeg: libjpeg encodes
 * one row after another on one thread, 34–42 ms for a 12 MP photo on the Zen 5 machine of runs BD–BH while the other
 * core waits, against 22–32 ms in two strips (docs/performance.md). The strips are spliced with restart markers
 * (ITU T.81, B.2.4.4 and F.1.2.3): a restart resets the DC predictions and byte-aligns the entropy-coded data, so
 * the coefficients, and the decoded pixels, are exactly those of the whole image encoded in one call. Where a
 * strip's header differs from the first's in more than its height, this falls back to that one call.
 */
export async function encodeJpeg(
  image: RgbPixels,
  strips = stripCount(image.width, image.height, sharp.concurrency()),
): Promise<Buffer> {
  const { pixels, width, height } = image;
  const mcusPerRow = Math.ceil(width / MCU);
  // A restart interval is a 16-bit count of MCUs: wide images need lower strips.
  const maxRows = Math.floor(0xffff / mcusPerRow) * MCU;
  const rows = Math.min(maxRows, Math.ceil(height / strips / MCU) * MCU);
  if (strips < 2 || rows < MCU || rows >= height) return encodeJpegWhole(image);
  const bands: RgbPixels[] = [];
  for (let y = 0; y < height; y += rows) {
    const h = Math.min(rows, height - y);
    bands.push({ pixels: pixels.subarray(y * width * 3, (y + h) * width * 3), width, height: h });
  }
  const parts = await Promise.all(bands.map(encodeJpegWhole));
  return splice(parts, height, mcusPerRow * (rows / MCU)) ?? encodeJpegWhole(image);
}

interface Layout {
  /** Where SOS starts: the tables and frame header before it. */
  sos: number;
  /** Where the entropy-coded data starts, after the SOS segment. */
  data: number;
  /** Where SOF0's height field is. */
  heightAt: number;
}

/** The segments of a baseline, 4:2:0, unrestarted JPEG as libjpeg writes it; undefined for any other. */
function layout(jpeg: Buffer): Layout | undefined {
  if (jpeg[0] !== 0xff || jpeg[1] !== SOI || jpeg[jpeg.length - 2] !== 0xff || jpeg[jpeg.length - 1] !== EOI) {
    return undefined;
  }
  let heightAt = -1;
  for (let at = 2; at + 4 <= jpeg.length;) {
    const marker = jpeg[at + 1]!;
    if (jpeg[at] !== 0xff) return undefined;
    const end = at + 2 + jpeg.readUInt16BE(at + 2);
    if (end > jpeg.length || marker === DRI) return undefined;
    if (marker === SOF0) {
      // Three components; luma sampled 2 x 2, each chroma 1 x 1: an MCU of 16 x 16.
      const sampling = [jpeg[at + 11], jpeg[at + 14], jpeg[at + 17]];
      if (jpeg[at + 9] !== 3 || sampling.join() !== '34,17,17') return undefined;
      heightAt = at + 5;
    } else if (marker >= 0xc1 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return undefined; // a frame other than baseline
    }
    if (marker === SOS) return heightAt < 0 ? undefined : { sos: at, data: end, heightAt };
    at = end;
  }
  return undefined;
}

/**
 * The strips as one JPEG: the first's header with the whole height and a restart interval of one strip, then each
 * strip's entropy-coded data, a restart marker between each two. Undefined when they do not share one header.
 */
export function splice(parts: Buffer[], height: number, interval: number): Buffer | undefined {
  const layouts = parts.map(layout);
  const first = layouts[0];
  if (!first || layouts.some((l) => !l)) return undefined;
  const header = Buffer.from(parts[0]!.subarray(0, first.data));
  header.writeUInt16BE(height, first.heightAt);
  for (let i = 1; i < parts.length; i++) {
    const other = Buffer.from(parts[i]!.subarray(0, layouts[i]!.data));
    other.writeUInt16BE(height, layouts[i]!.heightAt);
    if (!other.equals(header)) return undefined;
  }
  const dri = Buffer.from([0xff, DRI, 0, 4, interval >> 8, interval & 0xff]);
  const out: Buffer[] = [header.subarray(0, first.sos), dri, header.subarray(first.sos)];
  parts.forEach((part, i) => {
    if (i > 0) out.push(Buffer.from([0xff, RST0 + ((i - 1) % 8)]));
    out.push(part.subarray(layouts[i]!.data, part.length - 2));
  });
  out.push(Buffer.from([0xff, EOI]));
  return Buffer.concat(out);
}
