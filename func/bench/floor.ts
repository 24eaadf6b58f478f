import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { annotatedFormatFor, drawDetections, encodeImage } from '../detector/core/annotate.js';
import { encodeJpegWhole } from '../detector/core/jpeg-strips.js';
import {
  configureCodecs,
  decodeForDrawing,
  decodeFull,
  decodeImage,
  decodeResized,
  readHeader,
  modelPixels,
  shrinksOnLoad,
  type ImageHeader,
} from '../detector/core/decode.js';
import { fillTensor, letterboxGeometry, letterboxInto, type Letterbox } from '../detector/core/letterbox.js';
import { loadModel, type ModelInfo, type ModelOutput } from '../detector/core/model.js';
import { postprocess } from '../detector/core/postprocess.js';
import { Detector } from '../detector/core/detector.js';
import { OutputStore } from '../detector/core/storage.js';
import { detectorDefaults, loadConfig } from '../detector/service/config.js';

/**
 * What one request cannot go below, measured in this process: bare session.run on a ready tensor, and the
 * full-size decode the server makes (fullDecode below) and a JPEG encode of the same image in one call (the
 * annotated image is a full-size JPEG). A pipeline that runs them one after another cannot beat their sum; one that
 * overlaps them can, and the server's own encode may (jpeg-strips.ts): the floor does not follow it.
 */

/** An image's floor in ms: bare session.run, then its full-size decode and encode, one after another. */
export const floorMs = (bareP50: number, c: { decodeP50: number; encodeP50: number }): number =>
  bareP50 + c.decodeP50 + c.encodeP50;

/**
 * The most throughput, over bare throughput (1000 / bare p50), that the cores allow a server whose every request
 * costs `cpuMsPerRequest` of CPU, all cores busy: cores × 1000 / CPU, over 1000 / bare.
 */
export const throughputBoundOverBare = (cpuMsPerRequest: number, bareP50: number): number =>
  (os.availableParallelism() * bareP50) / cpuMsPerRequest;

export const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};

/** Wall milliseconds of `samples` calls of `work`, each awaited, after `warmUps` untimed ones. */
export async function timeOf(samples: number, work: () => unknown, warmUps = 3): Promise<number[]> {
  for (let i = 0; i < warmUps; i++) await work();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    await work();
    times.push(performance.now() - t);
  }
  return times;
}

/**
 * timeOf, and the CPU time of this process (all its threads) per timed call. The warm-up calls are left out: a
 * first call's one-off costs (compiling, a directory's first file) are no part of what every request costs.
 */
async function timeAndCpuOf(samples: number, work: () => unknown): Promise<{ times: number[]; cpuMs: number }> {
  for (let i = 0; i < 3; i++) await work();
  const cpu0 = process.cpuUsage();
  const times = await timeOf(samples, work, 0);
  const cpu = process.cpuUsage(cpu0);
  return { times, cpuMs: (cpu.user + cpu.system) / 1000 / samples };
}

/** A session as the server makes it: spinning only when INFERENCE_SPINNING=1 (config.ts); its threads unless told. */
const benchModel = (model: string, intraOpThreads?: number): ReturnType<typeof loadModel> =>
  loadModel(model, { providers: ['cpu'], spinning: process.env.INFERENCE_SPINNING === '1', intraOpThreads });

export async function bare(
  model: string,
  image: Buffer,
  samples: number,
  intraOpThreads?: number,
): Promise<{ p50: number; p90: number; cpuMsPerRun: number; output: ModelOutput; info: ModelInfo }> {
  const m = await benchModel(model, intraOpThreads);
  const [h, w] = m.info.inputSize;
  const decoded = await decodeImage(image, { maxPixels: 1e9 });
  const tensor = new Float32Array(3 * h * w);
  await letterboxInto(decoded, letterboxGeometry(decoded.width, decoded.height, w, h), tensor);
  // cpuMs: all of onnxruntime's threads, per run.
  const { times, cpuMs: cpuMsPerRun } = await timeAndCpuOf(samples, () => m.run(tensor, 1));
  const output = await m.run(tensor, 1);
  await m.release();
  return { p50: quantile(times, 0.5), p90: quantile(times, 0.9), cpuMsPerRun, output, info: m.info };
}

/**
 * The photo's pipeline at its least, run in this process on these cores: the full-size decode beside the reduced
 * decode, the tensor and session.run, then the encode: what the overlap can achieve here with nothing else around
 * it (p50 ms). Unlike the sum of parts timed alone, it includes what the two branches cost each other on shared
 * cores.
 */
export async function overlapped(model: string, image: Buffer, samples: number): Promise<number> {
  const m = await benchModel(model);
  const [h, w] = m.info.inputSize;
  const limits = { maxPixels: 1e9 };
  const header = await readHeader(image, limits);
  const lb = letterboxGeometry(header.width, header.height, w, h);
  const tensor = new Float32Array(3 * h * w);
  try {
    const times = await timeOf(samples, async () => {
      const [full] = await Promise.all([
        decodeForDrawing(image, header, limits),
        (async () => {
          const size = { width: lb.resizedWidth, height: lb.resizedHeight };
          fillTensor(await decodeResized(image, header, size, limits), lb, tensor);
          await m.run(tensor, 1);
        })(),
      ]);
      await encodeImage(full, 'jpeg');
    });
    return quantile(times, 0.5);
  } finally {
    await m.release();
  }
}

/**
 * The service's own pipeline, `Detector.detect` (read, header, decodes, tensor, session.run, NMS, drawing, encode
 * and the two writes), run in this process with the session on this thread and the server's defaults: a request
 * without HTTP, CloudEvents or the hand-off to the inference worker, on these cores (p50 ms). Unlike the floor and
 * the sums of steps timed alone, it includes what overlapping branches cost each other on shared cores; what the
 * server takes beyond it is the adapters' cost.
 */
export async function inProcess(
  model: string,
  volume: string,
  file: string,
  samples: number,
  annotate = true,
): Promise<number> {
  configureCodecs(0);
  const m = await benchModel(model);
  const out = await mkdtemp(path.join(os.tmpdir(), 'knative-yolo-in-process-'));
  const config = loadConfig({ ...process.env, MODEL_PATH: model, INPUT_DIR: volume, OUTPUT_DIR: out });
  const detector = new Detector(m, new OutputStore(out), detectorDefaults(config));
  let n = 0;
  try {
    const times = await timeOf(samples, () =>
      detector.detect({
        requestId: `in-process-${n++}`,
        requestSource: '/bench',
        time: undefined,
        input: { kind: 'path', path: file },
        options: { annotate },
      }),
    );
    return quantile(times, 0.5);
  } finally {
    await m.release();
    await rm(out, { recursive: true, force: true });
  }
}

/**
 * The full-size decode a request makes, as detector.ts chooses it: for drawing only where the model's input comes
 * from a reduced decode (a photo), the one decode for both otherwise.
 */
const fullDecode = (header: ImageHeader, lb: Letterbox): typeof decodeFull =>
  shrinksOnLoad(header, lb) ? decodeForDrawing : decodeFull;

export async function codecs(
  image: Buffer,
  samples: number,
): Promise<{
  decodeP50: number;
  encodeP50: number;
  annotatedEncodeP50: number;
  reducedDecodeP50: number;
  cpuMs: number;
}> {
  configureCodecs(0); // as the server sets it with IMAGE_THREADS unset
  const header = await readHeader(image, { maxPixels: 1e9 });
  const lb = letterboxGeometry(header.width, header.height, 640, 640);
  const size = { width: lb.resizedWidth, height: lb.resizedHeight };
  const full = fullDecode(header, lb);
  const decoded = await full(image, header, { maxPixels: 1e9 });
  const decode = await timeAndCpuOf(samples, () => full(image, header, { maxPixels: 1e9 }));
  const encode = await timeAndCpuOf(samples, () => encodeJpegWhole(decoded));
  // The server's own encode of the annotated image: in strips at once where the image is large enough.
  const annotated = await timeOf(samples, () => encodeImage(decoded, 'jpeg'));
  // The model's own decode, straight to its 640-pixel letterbox size (what annotate: false needs).
  const reduced = await timeOf(samples, () => decodeResized(image, header, size, { maxPixels: 1e9 }));
  return {
    decodeP50: quantile(decode.times, 0.5),
    encodeP50: quantile(encode.times, 0.5),
    annotatedEncodeP50: quantile(annotated, 0.5),
    reducedDecodeP50: quantile(reduced, 0.5),
    // CPU time of one decode and one encode, all of libvips' threads.
    cpuMs: decode.cpuMs + encode.cpuMs,
  };
}

/**
 * The steps a request must take in sequence that the floor leaves out, each timed alone on `image` (p50 ms): the
 * header, the resize to the model's size (none where the decoder shrinks on load: the reduced decode replaces
 * it), filling the tensor, NMS on a real output, drawing, and writing the image and the record. Nothing of one
 * request can overlap them: each needs the one before. Also their CPU time together, all threads (`cpuMs`): work
 * that every request costs the cores beside session.run and the codecs.
 */
export async function sequenceSteps(
  image: Buffer,
  model: { output: ModelOutput; info: ModelInfo },
  samples: number,
): Promise<{ ms: Record<'header' | 'resize' | 'fill' | 'nms' | 'draw' | 'write', number>; cpuMs: number }> {
  const limits = { maxPixels: 1e9 };
  const header = await readHeader(image, limits);
  const [h, w] = model.info.inputSize;
  const lb = letterboxGeometry(header.width, header.height, w, h);
  const size = { width: lb.resizedWidth, height: lb.resizedHeight };
  const full = await fullDecode(header, lb)(image, header, limits);
  const resized = shrinksOnLoad(header, lb)
    ? await decodeResized(image, header, size, limits)
    : await modelPixels(full, size);
  const tensor = new Float32Array(3 * h * w);
  const nms = (): ReturnType<typeof postprocess> =>
    postprocess(
      { layout: model.info.layout, data: model.output.data, dims: model.output.dims, batchIndex: 0 },
      { letterbox: lb, width: header.width, height: header.height, classNames: model.info.classNames },
      { conf: 0.25, iou: 0.7, maxDetections: 300 },
    );
  const detections = nms();
  const encoded = await encodeImage(full, annotatedFormatFor(header.format));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'knative-yolo-steps-'));
  const store = new OutputStore(dir);
  let n = 0;
  try {
    let cpuMs = 0;
    const p50 = async (work: () => unknown): Promise<number> => {
      const timed = await timeAndCpuOf(samples, work);
      cpuMs += timed.cpuMs;
      return quantile(timed.times, 0.5);
    };
    const ms = {
      header: await p50(() => readHeader(image, limits)),
      // With the conversion to sRGB where the full decode kept the stored values (decode.ts modelPixels).
      resize: shrinksOnLoad(header, lb) ? 0 : await p50(() => modelPixels(full, size)),
      fill: await p50(() => fillTensor(resized, lb, tensor)),
      nms: await p50(nms),
      // Drawing over the last drawing costs what the first did: the same pixels are set.
      draw: await p50(() => drawDetections(full, detections)),
      write: await p50(() =>
        store.write([
          { relativePath: `${n}.jpg`, data: encoded },
          { relativePath: `${n++}.json`, data: JSON.stringify({ detections }, null, 2) },
        ]),
      ),
    };
    return { ms, cpuMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
