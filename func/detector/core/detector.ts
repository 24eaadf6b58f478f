import { performance } from 'node:perf_hooks';
import { annotatedFormatFor, drawDetections, encodeImage } from './annotate.js';
import { decodeForDrawing, decodeFull, decodeResized, modelPixels, readHeader, shrinksOnLoad } from './decode.js';
import { DetectionError } from '../../shared/errors.js';
import { inSpan, tracer } from '../../shared/tracing.js';
import type { DetectionRecord, ModelSummary, Timings } from '../../shared/record.js';
import { readInputFile } from './input-path.js';
import { fillTensor, letterboxGeometry } from './letterbox.js';
import type { Model } from './model.js';
import { postprocess } from './postprocess.js';
import { Semaphore } from './semaphore.js';
import { TensorPool } from './tensor-pool.js';
import { outputId, outputStem, type OutputFile, type OutputStore } from './storage.js';

/** Options a request may set; anything unset takes the service default. */
export interface DetectOptions {
  conf: number;
  iou: number;
  maxDetections: number;
  /** Class names to keep; undefined keeps every class. */
  classes: string[] | undefined;
  annotate: boolean;
}

export type ImageInput = { kind: 'bytes'; bytes: Buffer; contentType: string } | { kind: 'path'; path: string };

/** One unit of work: where the image comes from, who asked, and how. Transport-neutral. */
export interface DetectionJob {
  requestId: string;
  requestSource: string;
  /** The event's time; dates the output folder so redelivery lands on the same files. */
  time: Date | undefined;
  input: ImageInput;
  options: Partial<DetectOptions>;
  /** The event's CloudEvents distributed-tracing extension (traceparent, tracestate), when it has one. */
  traceContext?: Record<string, string>;
}

export interface DetectionOutcome {
  record: DetectionRecord;
  /** The annotated image, when one was made (annotate !== false). */
  annotated: { data: Buffer; contentType: 'image/jpeg' | 'image/png' } | undefined;
}

/** One image analysed: what `detect` records, before anything is written. */
export interface Analysis {
  image: { width: number; height: number };
  detections: DetectionRecord['detections'];
  annotated: { data: Buffer; contentType: 'image/jpeg' | 'image/png'; extension: 'jpg' | 'png' } | undefined;
  timings: Timings;
}

export interface DetectorDefaults {
  conf: number;
  iou: number;
  maxDetections: number;
  inputDir: string;
  maxImageBytes: number;
  maxImagePixels: number;
  /**
   * Most images decoded and in the model at once; the others wait as the compressed bytes they arrived as.
   * Unset: no limit (the batch CLI bounds its own concurrency).
   */
  maxConcurrentImages?: number | undefined;
  /**
   * Input tensors kept for reuse between requests (tensor-pool.ts): as many as are usually filled at once, so
   * that a busy pod allocates none. Unset: KEPT_TENSORS.
   */
  keptTensors?: number | undefined;
}

/** Input tensors kept for reuse when the caller does not say (the batch CLI, tests). */
const KEPT_TENSORS = 2;

const ms = (t0: number): number => Math.round((performance.now() - t0) * 100) / 100;

/**
 * The model's two spans, from one call's times: the wait (the worker's queue and the micro-batcher) and
 * session.run itself, which the worker timed. Both are children of the active span.
 */
function traceModelRun(start: number, end: number, runMs: number, provider: string): void {
  const epoch = (t: number): number => performance.timeOrigin + t;
  const runStart = Math.max(start, end - runMs);
  tracer.startSpan('model.wait', { startTime: epoch(start) }).end(epoch(runStart));
  tracer
    .startSpan('inference', { startTime: epoch(runStart), attributes: { 'yolo.model.provider': provider } })
    .end(epoch(end));
}

export class Detector {
  private readonly classIndex: Map<string, number>;
  private readonly slots: Semaphore | undefined;
  private readonly tensors: TensorPool;

  constructor(
    readonly model: Model,
    private readonly store: OutputStore,
    private readonly defaults: DetectorDefaults,
  ) {
    this.classIndex = new Map(model.info.classNames.map((n, i) => [n, i]));
    if (defaults.maxConcurrentImages) this.slots = new Semaphore(defaults.maxConcurrentImages);
    const [h, w] = model.info.inputSize;
    this.tensors = new TensorPool(3 * h * w, defaults.keptTensors ?? KEPT_TENSORS);
  }

  /** The class ids for option `classes`; throws INVALID_OPTION for a name the model does not detect. */
  classFilterFor(classes: string[] | undefined): Set<number> | undefined {
    if (classes === undefined) return undefined;
    const ids = new Set<number>();
    for (const name of classes) {
      const id = this.classIndex.get(name);
      if (id === undefined) {
        throw new DetectionError(
          'INVALID_OPTION',
          `Option "classes" names "${name}", which model ${this.model.info.name} does not detect.`,
        );
      }
      ids.add(id);
    }
    return ids;
  }

  /**
   * Runs inference on a blank image, so the first real request does not pay for kernel setup: `runs` at once, so
   * that a pool of sessions (INFERENCE_WORKERS) has each of its sessions warmed, the least busy taking each run.
   */
  async warmUp(runs = 1): Promise<void> {
    const [h, w] = this.model.info.inputSize;
    await Promise.all(
      Array.from({ length: runs }, () => this.model.run(new Float32Array(3 * h * w).fill(114 / 255), 1)),
    );
  }

  /**
   * Reads (for a path), decodes, runs the model and annotates one image, writing nothing. `detect` adds the
   * record and the files; the batch CLI and `inspect --self-test` use this directly.
   */
  analyse(input: ImageInput, options: Partial<DetectOptions>): Promise<Analysis> {
    return this.slots ? this.slots.run(() => this.analyseNow(input, options)) : this.analyseNow(input, options);
  }

  private async analyseNow(input: ImageInput, options: Partial<DetectOptions>): Promise<Analysis> {
    const t0 = performance.now();
    const opts: DetectOptions = {
      conf: options.conf ?? this.defaults.conf,
      iou: options.iou ?? this.defaults.iou,
      maxDetections: options.maxDetections ?? this.defaults.maxDetections,
      classes: options.classes,
      annotate: options.annotate ?? true,
    };
    const classIds = this.classFilterFor(opts.classes);
    const limits = { maxPixels: this.defaults.maxImagePixels };

    const info = this.model.info;
    const [h, w] = info.inputSize;
    const { header, lb, full, resized } = await inSpan('decode', async (span) => {
      const { bytes, declared } = await this.read(input);
      const header = await readHeader(bytes, limits, declared);
      span.setAttributes({ 'image.bytes': bytes.length, 'image.width': header.width, 'image.height': header.height });
      const lb = letterboxGeometry(header.width, header.height, w, h);
      const size = { width: lb.resizedWidth, height: lb.resizedHeight };
      // The model's input is made the same way whether or not anything is drawn, so annotate: false finds the same.
      if (!shrinksOnLoad(header, lb)) {
        // Near the model's size a decode costs the same at any scale: decode once and resize the pixels (for a
        // JPEG, 33 ms for bus.jpg where libvips' resize of the decoding stream takes 52).
        const image = await decodeFull(bytes, header, limits);
        const resized = await modelPixels(image, size);
        return { header, lb, full: opts.annotate ? Promise.resolve(image) : undefined, resized };
      }
      // Much larger (a phone photo): the model's input comes from a reduced decode, and the full-size one, for
      // drawing only, runs beside it and inference. Its failure is reported where it is awaited, below.
      if (!opts.annotate)
        return { header, lb, full: undefined, resized: await decodeResized(bytes, header, size, limits) };
      const drawing = inSpan('decode.full', () => decodeForDrawing(bytes, header, limits));
      drawing.catch(() => undefined);
      return { header, lb, full: drawing, resized: await decodeResized(bytes, header, size, limits) };
    });
    const decodeMs = ms(t0);

    let t = performance.now();
    const tensor = this.tensors.take();
    await inSpan('preprocess', async () => fillTensor(resized, lb, tensor));
    const preprocessMs = ms(t);

    t = performance.now();
    const out = await this.model.run(tensor, 1);
    this.tensors.give(out.input);
    traceModelRun(t, performance.now(), out.runMs, info.provider);
    const inferenceMs = ms(t);

    t = performance.now();
    const detections = await inSpan('postprocess', async (span) => {
      try {
        const found = postprocess(
          { layout: info.layout, data: out.data, dims: out.dims, batchIndex: 0 },
          { letterbox: lb, width: header.width, height: header.height, classNames: info.classNames },
          { conf: opts.conf, iou: opts.iou, maxDetections: opts.maxDetections, ...(classIds ? { classIds } : {}) },
        );
        span.setAttribute('yolo.detections', found.length);
        return found;
      } finally {
        out.recycle?.();
      }
    });
    const postprocessMs = ms(t);

    t = performance.now();
    let annotated: Analysis['annotated'];
    const format = annotatedFormatFor(header.format);
    if (full) {
      const image = await full;
      const data = await inSpan('annotate', async () => {
        drawDetections(image, detections);
        return encodeImage(image, format);
      });
      annotated = {
        data,
        contentType: format === 'jpeg' ? 'image/jpeg' : 'image/png',
        extension: format === 'jpeg' ? 'jpg' : 'png',
      };
    }
    const annotateMs = ms(t);
    return {
      image: { width: header.width, height: header.height },
      detections,
      annotated,
      timings: { decodeMs, preprocessMs, inferenceMs, postprocessMs, annotateMs, totalMs: ms(t0) },
    };
  }

  /** The image's bytes: read from the input volume for a path (confined to it), or checked for size. */
  private async read(input: ImageInput): Promise<{ bytes: Buffer; declared: string | undefined }> {
    if (input.kind === 'path') {
      return {
        bytes: await readInputFile(this.defaults.inputDir, input.path, this.defaults.maxImageBytes),
        declared: undefined,
      };
    }
    if (input.bytes.length > this.defaults.maxImageBytes) {
      throw new DetectionError(
        'IMAGE_TOO_LARGE',
        `The image is ${input.bytes.length} bytes, over the limit of ${this.defaults.maxImageBytes} bytes.`,
      );
    }
    return { bytes: input.bytes, declared: input.contentType };
  }

  /** The model as the contract describes it in every record. */
  modelSummary(): ModelSummary {
    const info = this.model.info;
    return { name: info.name, sha256: info.sha256, inputSize: info.inputSize, classes: info.classNames.length };
  }

  /** Analyses the job's image and writes the annotated image and the JSON record to the output store. */
  async detect(job: DetectionJob): Promise<DetectionOutcome> {
    const t0 = performance.now();
    const analysis = await this.analyse(job.input, job.options);
    const { annotated } = analysis;
    const stem = outputStem(job.time ?? new Date(), outputId(job.requestSource, job.requestId));
    const imagePath = annotated ? `${stem}.${annotated.extension}` : null;
    const record: DetectionRecord = {
      requestId: job.requestId,
      requestSource: job.requestSource,
      input:
        job.input.kind === 'path'
          ? { path: job.input.path }
          : { contentType: job.input.contentType, bytes: job.input.bytes.length },
      image: analysis.image,
      model: this.modelSummary(),
      detections: analysis.detections,
      output: { image: imagePath, json: `${stem}.json` },
      timings: analysis.timings,
    };
    const files: OutputFile[] = [];
    if (annotated && imagePath) files.push({ relativePath: imagePath, data: annotated.data });
    record.timings.totalMs = ms(t0);
    files.push({ relativePath: record.output.json, data: JSON.stringify(record, null, 2) + '\n' });
    await inSpan('write', () => this.store.write(files));
    return { record, annotated: annotated && { data: annotated.data, contentType: annotated.contentType } };
  }
}
