import sharp, { type Metadata } from 'sharp';
import { DetectionError } from '../../shared/errors.js';

/** An image decoded once, upright (EXIF orientation applied), as packed 8-bit RGB. */
export interface DecodedImage {
  pixels: Buffer;
  width: number;
  height: number;
  /** sharp's name for the source format: jpeg, png, webp, gif, tiff, avif, heif, ... */
  format: string;
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

export async function decodeImage(bytes: Buffer, limits: DecodeLimits, declaredType?: string): Promise<DecodedImage> {
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
  // Checked on the header before decoding, so a decompression bomb never gets its pixels allocated.
  if (width * height > limits.maxPixels) {
    throw new DetectionError(
      'IMAGE_TOO_LARGE',
      `The image is ${width}x${height} (${width * height} pixels), over the limit of ${limits.maxPixels} pixels.`,
    );
  }
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'error' })
      .autoOrient()
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
    return { pixels: data, width: info.width, height: info.height, format };
  } catch (err) {
    throw new DetectionError('UNDECODABLE_IMAGE', `The ${format.toUpperCase()} image is corrupt or truncated.`, {
      cause: err,
    });
  }
}
