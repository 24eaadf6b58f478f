import { availableParallelism } from 'node:os';
import sharp, { type Metadata, type Sharp } from './sharp-cjs.js';
import { DetectionError } from '../../shared/errors.js';
import { rgbProfile } from './icc-profile.js';
import { srgbTransformOf, type SrgbTransform } from './srgb-transform.js';

/**
 * libvips as the service runs it, for every decode and encode in this process. sharp defaults to one thread on
 * glibc Linux (against fragmentation); decode and encode take half the time with one per core (`threads` 0), and
 * the detector's limit on decoded images bounds the memory. Every request brings a new image, so libvips'
 * operation cache (up to 50 MB) would only hold dead results.
 */
export function configureCodecs(threads: number): void {
  sharp.concurrency(threads || availableParallelism());
  sharp.cache(false);
}

/** An image decoded once, upright (EXIF orientation applied), as packed 8-bit RGB. */
export interface DecodedImage {
  pixels: Buffer;
  width: number;
  height: number;
  /** sharp's name for the source format: jpeg, png, webp, gif, tiff, avif, heif, ... */
  format: string;
  /** Set when the pixels are as stored, not converted to sRGB: their RGB colour profile (decodeForDrawing). */
  icc?: Buffer | undefined;
  /** Set when the pixels are as stored and this converts them to sRGB for the model (modelPixels). */
  toSrgb?: SrgbTransform | undefined;
}

export interface DecodeLimits {
  maxPixels: number;
}

/** The content types accepted for images, and the sharp format each must decode as. */
export const IMAGE_CONTENT_TYPES: Readonly<Record<string, readonly string[]>> = {
  'image/jpeg': ['jpeg'],
  'image/jpg': ['jpeg'],
  'image/png': ['png'],
  'image/webp': ['webp'],
  'image/gif': ['gif'],
  'image/tiff': ['tiff'],
  'image/avif': ['heif'],
  'image/heic': ['heif'],
  'image/heif': ['heif'],
};

/** What the header says, before any pixel is decoded: the upright size and the format. */
export interface ImageHeader {
  /** Width and height after EXIF orientation, as every decode here returns them. */
  width: number;
  height: number;
  format: string;
  /** The image's embedded RGB colour profile, if it has one. */
  icc: Buffer | undefined;
  /**
   * That profile's conversion to sRGB, when it is one the service applies itself to the resized model input
   * (srgb-transform.ts); undefined when there is no profile or sharp converts on decode.
   */
  toSrgb: SrgbTransform | undefined;
}

/**
 * Reads and checks the header: a known image format, matching the declared content type, and within the pixel
 * limit. Checked here, before decoding, so a decompression bomb never gets its pixels allocated.
 */
export async function readHeader(bytes: Buffer, limits: DecodeLimits, declaredType?: string): Promise<ImageHeader> {
  if (bytes.length === 0) throw new DetectionError('MISSING_IMAGE', 'The image is empty (0 bytes).');
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new DetectionError('UNDECODABLE_IMAGE', 'The data is not an image in a format this service can decode.', {
      cause: err,
    });
  }
  const { width, height, format } = meta;
  if (!width || !height || !format) {
    throw new DetectionError('UNDECODABLE_IMAGE', 'The image header gives no size or format.');
  }
  if (declaredType !== undefined) {
    const expected = IMAGE_CONTENT_TYPES[declaredType];
    if (expected && !expected.includes(format)) {
      throw new DetectionError(
        'CONTENT_TYPE_MISMATCH',
        `The content type says ${declaredType} but the data is a ${format.toUpperCase()} image.`,
      );
    }
  }
  if (width * height > limits.maxPixels) {
    throw new DetectionError(
      'IMAGE_TOO_LARGE',
      `The image is ${width}x${height} (${width * height} pixels), over the limit of ${limits.maxPixels} pixels.`,
    );
  }
  // EXIF orientations 5 to 8 turn the image a quarter: width and height swap once it is upright.
  const turned = (meta.orientation ?? 1) >= 5;
  const icc = rgbProfile(meta.icc, meta.space);
  return {
    width: turned ? height : width,
    height: turned ? width : height,
    format,
    icc,
    toSrgb: srgbTransformOf(icc),
  };
}

/**
 * sharp's decode of these bytes, upright, within the pixel limit: the start of every pipeline here. Converted to
 * sRGB through the embedded profile (sharp's default) unless `asStored`.
 */
function upright(bytes: Buffer, limits: DecodeLimits, asStored = false) {
  return sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'error', ignoreIcc: asStored }).autoOrient();
}

/** A pipeline's output as packed 8-bit sRGB without alpha; any libvips failure is an undecodable image. */
async function rgb(pipeline: Sharp, format: string): Promise<{ data: Buffer; width: number; height: number }> {
  try {
    const { data, info } = await pipeline
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
    return { data, width: info.width, height: info.height };
  } catch (err) {
    throw new DetectionError('UNDECODABLE_IMAGE', `The ${format.toUpperCase()} image is corrupt or truncated.`, {
      cause: err,
    });
  }
}

/** The whole image at full size, for drawing on. */
export async function decodeImage(bytes: Buffer, limits: DecodeLimits, declaredType?: string): Promise<DecodedImage> {
  const header = await readHeader(bytes, limits, declaredType);
  return decodeFull(bytes, header, limits);
}

/**
 * The full-size decode for a header already checked, drawn on and resized for the model (modelPixels): as stored
 * when its profile is converted after the resize (srgb-transform.ts), else in sRGB.
 */
export async function decodeFull(bytes: Buffer, header: ImageHeader, limits: DecodeLimits): Promise<DecodedImage> {
  if (header.toSrgb) return decodeForDrawing(bytes, header, limits);
  const { data, width, height } = await rgb(upright(bytes, limits), header.format);
  return { pixels: data, width, height, format: header.format };
}

/**
 * The full-size decode when it is only drawn on and encoded again (the model's input comes from decodeResized):
 * an image with an RGB profile keeps the values it stores, and the annotated image carries the profile
 * (icc-profile.ts), so it shows as the sRGB conversion would, without it: for a phone photo's Display P3, that
 * conversion costs more CPU than the decode itself (docs/performance.md).
 */
export async function decodeForDrawing(
  bytes: Buffer,
  header: ImageHeader,
  limits: DecodeLimits,
): Promise<DecodedImage> {
  const asStored = header.icc !== undefined;
  const { data, width, height } = await rgb(upright(bytes, limits, asStored), header.format);
  return { pixels: data, width, height, format: header.format, icc: header.icc, toSrgb: header.toSrgb };
}

/**
 * The image decoded straight to `width` x `height` (the model input's size inside the letterbox), in sRGB. A JPEG
 * or WebP several times larger is decoded at 1/2, 1/4 or 1/8 scale by libjpeg/libwebp themselves (sharp's
 * shrink-on-load), so a 12 MP photo never has its 12 million pixels decoded for a 640-pixel model input.
 */
export async function decodeResized(
  bytes: Buffer,
  header: ImageHeader,
  size: { width: number; height: number },
  limits: DecodeLimits,
): Promise<Buffer> {
  const asStored = header.toSrgb !== undefined;
  const pipeline = upright(bytes, limits, asStored).resize(size.width, size.height, { fit: 'fill', kernel: 'linear' });
  const { data } = await rgb(pipeline, header.format);
  header.toSrgb?.convert(data);
  return data;
}

/**
 * Whether the decoder itself can decode at reduced scale for this letterbox: JPEG and WebP decode at 1/2, 1/4 or
 * 1/8 when the image is at least twice the size it is resized to (libvips' shrink-on-load).
 */
export function shrinksOnLoad(header: ImageHeader, size: { resizedWidth: number; resizedHeight: number }): boolean {
  const factor = Math.min(header.width / size.resizedWidth, header.height / size.resizedHeight);
  return (header.format === 'jpeg' || header.format === 'webp') && factor >= 2;
}

/**
 * The model's input from a decoded image: resized to `width` x `height` with the same kernel as decodeResized, and
 * in sRGB, converted here if the image was decoded as stored.
 */
export async function modelPixels(image: DecodedImage, size: { width: number; height: number }): Promise<Buffer> {
  const resized = await resizePixels(image, size);
  if (!image.toSrgb || image.toSrgb.identity) return resized;
  // Resized to the same size, they are the drawing's own pixels: convert into a copy.
  const out = resized === image.pixels ? Buffer.allocUnsafe(resized.length) : resized;
  image.toSrgb.convert(resized, out);
  return out;
}

/** Decoded pixels resized to `width` x `height`, with the same kernel as decodeResized. */
export async function resizePixels(image: DecodedImage, size: { width: number; height: number }): Promise<Buffer> {
  if (image.width === size.width && image.height === size.height) return image.pixels;
  return sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(size.width, size.height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
}
