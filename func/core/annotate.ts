import sharp from 'sharp';
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyph } from './bitmap-font.js';
import type { DecodedImage } from './decode.js';
import type { Detection } from './postprocess.js';

/** Ultralytics' palette, so a class has the same colour here as in the tools users already know. */
const PALETTE = [
  'FF3838',
  'FF9D97',
  'FF701F',
  'FFB21D',
  'CFD231',
  '48F90A',
  '92CC17',
  '3DDB86',
  '1A9334',
  '00D4BB',
  '2C99A8',
  '00C2FF',
  '344593',
  '6473FF',
  '0018EC',
  '8438FF',
  '520085',
  'CB38FF',
  'FF95C8',
  'FF37C7',
].map((hex) => [parseInt(hex.slice(0, 2), 16), parseInt(hex.slice(2, 4), 16), parseInt(hex.slice(4, 6), 16)] as const);

type Rgb = readonly [number, number, number];

export function classColour(classId: number): Rgb {
  return PALETTE[((classId % PALETTE.length) + PALETTE.length) % PALETTE.length]!;
}

/** Line width and caption scale grow with the image, so both stay legible from thumbnails to 4K frames. */
export function annotationScale(width: number, height: number): { line: number; text: number } {
  return {
    line: Math.max(Math.round(((width + height) / 2) * 0.003), 2),
    text: Math.max(1, Math.round(Math.sqrt(width * height) / 300)),
  };
}

function fillRect(img: DecodedImage, x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
  const xa = Math.max(0, Math.floor(x0));
  const ya = Math.max(0, Math.floor(y0));
  const xb = Math.min(img.width, Math.ceil(x1));
  const yb = Math.min(img.height, Math.ceil(y1));
  for (let y = ya; y < yb; y++) {
    let p = (y * img.width + xa) * 3;
    for (let x = xa; x < xb; x++, p += 3) {
      img.pixels[p] = c[0];
      img.pixels[p + 1] = c[1];
      img.pixels[p + 2] = c[2];
    }
  }
}

function drawText(img: DecodedImage, text: string, x: number, y: number, scale: number, c: Rgb): void {
  for (const ch of text) {
    const bits = glyph(ch);
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        if (bits[gy * GLYPH_WIDTH + gx]) {
          fillRect(img, x + gx * scale, y + gy * scale, x + (gx + 1) * scale, y + (gy + 1) * scale, c);
        }
      }
    }
    x += (GLYPH_WIDTH + 1) * scale;
  }
}

export function captionFor(d: Detection): string {
  return `${d.label} ${d.confidence.toFixed(2)}`;
}

/** Draws boxes and "label 0.87" captions into the decoded pixels, in place, lowest confidence first. */
export function drawDetections(img: DecodedImage, detections: readonly Detection[]): void {
  const { line, text } = annotationScale(img.width, img.height);
  const pad = text * 2;
  for (const d of [...detections].reverse()) {
    const c = classColour(d.classId);
    const { x1, y1, x2, y2 } = d.box;
    fillRect(img, x1, y1, x2, y1 + line, c);
    fillRect(img, x1, y2 - line, x2, y2, c);
    fillRect(img, x1, y1, x1 + line, y2, c);
    fillRect(img, x2 - line, y1, x2, y2, c);
    const caption = captionFor(d);
    const w = caption.length * (GLYPH_WIDTH + 1) * text - text + 2 * pad;
    const h = GLYPH_HEIGHT * text + 2 * pad;
    // Above the box when there is room, otherwise just inside its top edge.
    const top = y1 - h >= 0 ? y1 - h : y1;
    const left = Math.min(Math.max(0, x1), Math.max(0, img.width - w));
    fillRect(img, left, top, left + w, top + h, c);
    const luminance = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
    const ink: Rgb = luminance > 150 ? [0, 0, 0] : [255, 255, 255];
    drawText(img, caption, Math.round(left + pad), Math.round(top + pad), text, ink);
  }
}

export type AnnotatedFormat = 'jpeg' | 'png';

/** JPEG in, JPEG out (photos stay small); PNG for everything else, so nothing lossless becomes lossy. */
export function annotatedFormatFor(sourceFormat: string): AnnotatedFormat {
  return sourceFormat === 'jpeg' ? 'jpeg' : 'png';
}

export async function encodeImage(img: DecodedImage, format: AnnotatedFormat): Promise<Buffer> {
  const pipeline = sharp(img.pixels, { raw: { width: img.width, height: img.height, channels: 3 } });
  return format === 'jpeg'
    ? pipeline.jpeg({ quality: 90 }).toBuffer()
    : pipeline.png({ compressionLevel: 6 }).toBuffer();
}
