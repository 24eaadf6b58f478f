import { crc32, deflateSync } from 'node:zlib';

/**
 * An image's embedded colour profile, carried from the input to the annotated output.
 *
 * A phone photo's full-size decode is only drawn on and encoded again (decode.ts decodeForDrawing), so it keeps the
 * values the file stores rather than converting them to sRGB: for a 12 MP Display P3 photo that conversion took
 * 205 ms of CPU against 92 for the decode alone (docs/performance.md). The annotated image then carries the input's
 * profile, so a colour-managed viewer shows what the conversion would have. sharp attaches a profile only from a
 * file or a built-in name, never from the input's bytes once they are raw pixels: hence the two small writers
 * below, each a container's documented way to hold one.
 */

/** A profile fit for the decoded pixels: an RGB one (ICC header bytes 16-19), on an RGB image. */
export function rgbProfile(icc: Buffer | undefined, space: string | undefined): Buffer | undefined {
  if (!icc || icc.length < 128 || icc.toString('latin1', 16, 20) !== 'RGB ') return undefined;
  // A CMYK or grey image is converted to sRGB on decode; its profile no longer describes the pixels.
  return space === 'srgb' || space === 'rgb16' ? icc : undefined;
}

const SOI = 0xd8;
const APP0 = 0xe0;
const APP2 = 0xe2;
const ICC_MARKER = Buffer.from('ICC_PROFILE\0', 'latin1');
/** A marker segment holds 65,533 bytes after its length; the ICC header (name, index, count) takes 14. */
const JPEG_CHUNK = 65_533 - ICC_MARKER.length - 2;

/**
 * The JPEG with `icc` in APP2 segments, as the ICC specification (annex B.4) lays them out: "ICC_PROFILE\0", the
 * segment's 1-based index and the count, then that part of the profile. They go after SOI and the JFIF APP0
 * segment, which must come first. A profile too large for 255 segments is left out.
 */
export function embedInJpeg(jpeg: Buffer, icc: Buffer): Buffer {
  const count = Math.ceil(icc.length / JPEG_CHUNK);
  if (count > 255 || jpeg[0] !== 0xff || jpeg[1] !== SOI) return jpeg;
  let at = 2;
  if (jpeg[2] === 0xff && jpeg[3] === APP0) at = 4 + jpeg.readUInt16BE(4);
  const segments: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const part = icc.subarray(i * JPEG_CHUNK, (i + 1) * JPEG_CHUNK);
    const head = Buffer.alloc(4);
    head.writeUInt8(0xff, 0);
    head.writeUInt8(APP2, 1);
    head.writeUInt16BE(2 + ICC_MARKER.length + 2 + part.length, 2);
    segments.push(head, ICC_MARKER, Buffer.from([i + 1, count]), part);
  }
  return Buffer.concat([jpeg.subarray(0, at), ...segments, jpeg.subarray(at)]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32(data, crc32(head.subarray(4))) >>> 0, 0);
  return Buffer.concat([head, data, tail]);
}

/**
 * The PNG with `icc` in an iCCP chunk (PNG specification 11.3.3.3: a name, a zero, compression method 0, the
 * zlib-compressed profile), right after IHDR as the chunk must precede PLTE and IDAT. A PNG that already says how
 * to show its colours (iCCP or sRGB, which may not both appear) is left as it is.
 */
export function embedInPng(png: Buffer, icc: Buffer): Buffer {
  if (!png.subarray(0, 8).equals(PNG_SIGNATURE) || png.toString('latin1', 12, 16) !== 'IHDR') return png;
  for (let at = 8; at + 8 <= png.length; at += 12 + png.readUInt32BE(at)) {
    const type = png.toString('latin1', at + 4, at + 8);
    if (type === 'iCCP' || type === 'sRGB') return png;
    if (type === 'IDAT') break;
  }
  const afterIhdr = 8 + 12 + png.readUInt32BE(8);
  const data = Buffer.concat([Buffer.from('ICC profile\0\0', 'latin1'), deflateSync(icc)]);
  return Buffer.concat([png.subarray(0, afterIhdr), pngChunk('iCCP', data), png.subarray(afterIhdr)]);
}
