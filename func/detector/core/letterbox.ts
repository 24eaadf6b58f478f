import { modelPixels, type DecodedImage } from './decode.js';

/**
 * Where an image lands inside the model's square (or rectangular) input, computed exactly as Ultralytics'
 * LetterBox does (center=True, scaleup=True, auto=False), so that boxes agree with the reference pipeline.
 */
export interface Letterbox {
  /** Model input size. */
  inputWidth: number;
  inputHeight: number;
  /** Scale from original pixels to input pixels. */
  ratio: number;
  /** Size of the resized image inside the input. */
  resizedWidth: number;
  resizedHeight: number;
  /** Padding before the image. */
  left: number;
  top: number;
}

export const PAD_VALUE = 114;

/** Python 3's round(): halves go to the even neighbour. Ultralytics' rounding depends on it. */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function letterboxGeometry(width: number, height: number, inputWidth: number, inputHeight: number): Letterbox {
  const ratio = Math.min(inputHeight / height, inputWidth / width);
  const resizedWidth = Math.max(1, Math.min(inputWidth, pyRound(width * ratio)));
  const resizedHeight = Math.max(1, Math.min(inputHeight, pyRound(height * ratio)));
  const dw = (inputWidth - resizedWidth) / 2;
  const dh = (inputHeight - resizedHeight) / 2;
  return {
    inputWidth,
    inputHeight,
    ratio,
    resizedWidth,
    resizedHeight,
    left: pyRound(dw - 0.1),
    top: pyRound(dh - 0.1),
  };
}

/** Input-pixel coordinates back to original-image pixels (the inverse of the letterbox). */
export function toOriginal(lb: Letterbox, x: number, y: number): [number, number] {
  return [(x - lb.left) / lb.ratio, (y - lb.top) / lb.ratio];
}

/**
 * Resizes the decoded pixels with sharp (in sRGB: decode.ts modelPixels) and writes them as RGB/255 CHW float32 into `tensor` (length
 * 3*H*W), padding with 114. The tensor is filled in place so callers can reuse one buffer per session.
 */
export async function letterboxInto(image: DecodedImage, lb: Letterbox, tensor: Float32Array): Promise<void> {
  fillTensor(await modelPixels(image, { width: lb.resizedWidth, height: lb.resizedHeight }), lb, tensor);
}

/** Packed RGB of the letterbox's resized size → RGB/255 CHW float32 in `tensor`, padded with 114. */
export function fillTensor(resized: Buffer, lb: Letterbox, tensor: Float32Array): void {
  const { inputWidth: W, inputHeight: H } = lb;
  const plane = W * H;
  if (tensor.length !== 3 * plane) throw new RangeError(`tensor length ${tensor.length} != 3x${W}x${H}`);
  if (resized.length !== lb.resizedWidth * lb.resizedHeight * 3) {
    throw new RangeError(`${resized.length} bytes is not ${lb.resizedWidth}x${lb.resizedHeight} RGB`);
  }
  tensor.fill(PAD_VALUE / 255);
  const rw = lb.resizedWidth;
  for (let y = 0; y < lb.resizedHeight; y++) {
    let src = y * rw * 3;
    let dst = (y + lb.top) * W + lb.left;
    for (let x = 0; x < rw; x++, src += 3, dst++) {
      tensor[dst] = resized[src]! / 255;
      tensor[dst + plane] = resized[src + 1]! / 255;
      tensor[dst + 2 * plane] = resized[src + 2]! / 255;
    }
  }
}
