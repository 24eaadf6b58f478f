import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { encodeImage } from '../detector/core/annotate.js';
import { decodeImage, decodeResized, readHeader } from '../detector/core/decode.js';
import { letterboxGeometry, letterboxInto } from '../detector/core/letterbox.js';
import { loadModel } from '../detector/core/model.js';

/**
 * What one request cannot go below, measured in this process: bare session.run on a ready tensor, and sharp's
 * full-size decode and JPEG encode of the same image (the annotated image is a full-size JPEG). A pipeline that
 * runs them one after another cannot beat their sum; one that overlaps them can.
 */

export const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};

async function timeOf(samples: number, work: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 3; i++) await work();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    await work();
    times.push(performance.now() - t);
  }
  return times;
}

export async function bare(
  model: string,
  image: Buffer,
  samples: number,
): Promise<{ p50: number; p90: number; cpuMsPerRun: number }> {
  // As the server runs it: spinning only when INFERENCE_SPINNING=1 (config.ts).
  const m = await loadModel(model, { providers: ['cpu'], spinning: process.env.INFERENCE_SPINNING === '1' });
  const [h, w] = m.info.inputSize;
  const decoded = await decodeImage(image, { maxPixels: 1e9 });
  const tensor = new Float32Array(3 * h * w);
  await letterboxInto(decoded, letterboxGeometry(decoded.width, decoded.height, w, h), tensor);
  const cpu0 = process.cpuUsage();
  const times = await timeOf(samples, () => m.run(tensor, 1));
  const cpu = process.cpuUsage(cpu0);
  await m.release();
  // CPU time of all of onnxruntime's threads, per run (the warm-up runs included, as they are few).
  const cpuMsPerRun = (cpu.user + cpu.system) / 1000 / (samples + 3);
  return { p50: quantile(times, 0.5), p90: quantile(times, 0.9), cpuMsPerRun };
}

export async function codecs(
  image: Buffer,
  samples: number,
): Promise<{ decodeP50: number; encodeP50: number; reducedDecodeP50: number }> {
  // As the server sets it (service.ts): one libvips thread per core, no operation cache.
  sharp.concurrency(availableParallelism());
  sharp.cache(false);
  const decoded = await decodeImage(image, { maxPixels: 1e9 });
  const decode = await timeOf(samples, () => decodeImage(image, { maxPixels: 1e9 }));
  const encode = await timeOf(samples, () => encodeImage(decoded, 'jpeg'));
  // The model's own decode, straight to its 640-pixel letterbox size (what annotate: false needs).
  const header = await readHeader(image, { maxPixels: 1e9 });
  const lb = letterboxGeometry(header.width, header.height, 640, 640);
  const size = { width: lb.resizedWidth, height: lb.resizedHeight };
  const reduced = await timeOf(samples, () => decodeResized(image, header, size, { maxPixels: 1e9 }));
  return {
    decodeP50: quantile(decode, 0.5),
    encodeP50: quantile(encode, 0.5),
    reducedDecodeP50: quantile(reduced, 0.5),
  };
}
