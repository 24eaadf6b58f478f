import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { InferenceSession, Tensor } from './onnxruntime-cjs.js';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';
import { ModelLoadError } from './model-errors.js';
import { opsWithoutKernel, type Provider } from './provider-support.js';
import { readOnnxModelInfo, type OnnxModelInfo } from './onnx-proto.js';
import { detectLayout, type OutputLayout } from './output-layout.js';
import { parseClassNames, parseImageSize, parsePythonLiteral } from './ultralytics-metadata.js';

export type { Provider } from './provider-support.js';

export interface ModelInfo {
  name: string;
  path: string;
  sha256: string;
  bytes: number;
  inputName: string;
  outputName: string;
  /** [height, width] of the model input. */
  inputSize: [number, number];
  classNames: string[];
  layout: OutputLayout;
  stride: number | undefined;
  task: string | undefined;
  /** 'dynamic' when the batch axis is symbolic, so several images can share one run. */
  batch: 'static' | 'dynamic';
  /** The input and output shapes as the model declares them (symbolic dims as strings). */
  inputShape: (number | string)[];
  outputShape: (number | string)[];
  quantized: boolean;
  /** The element type of the input and of the output: float16 for Ultralytics' half=True exports. */
  inputType: 'float32' | 'float16';
  outputType: 'float32' | 'float16';
  onnx: OnnxModelInfo;
  /** The execution provider the session actually runs on. */
  provider: Provider;
  /** Operators with no kernel on that provider, which onnxruntime runs on the CPU instead (empty on the CPU). */
  opsOffProvider: string[];
}

export { ModelLoadError } from './model-errors.js';

export interface LoadOptions {
  name?: string | undefined;
  providers: Provider[];
  expectedSha256?: string | undefined;
  intraOpThreads?: number | undefined;
  /**
   * Whether onnxruntime's intra-op threads spin while waiting for work. Spinning shortens a run a little and burns
   * a core meanwhile, the core decode and encode need between runs; off unless asked for.
   */
  spinning?: boolean | undefined;
  /** Silence onnxruntime's own error log (for probing which providers work). */
  quiet?: boolean;
  /** Receives the reason when a preferred provider is unavailable and a later one is used. */
  onFallback?: (from: Provider, to: Provider, reason: string) => void;
  /** Called once if the model stops being able to run after it loaded (its worker thread died). */
  onFailure?: (err: Error) => void;
}

const QUANTIZED_OPS = new Set(['ConvInteger', 'QLinearConv', 'MatMulInteger', 'QLinearMatMul', 'DequantizeLinear']);

export interface ModelOutput {
  data: Float32Array;
  dims: number[];
  /** How long session.run itself took; the rest of a run's time was spent waiting (queue, batch-mates). */
  runMs: number;
  /** The input tensor, handed back after the run for the caller to fill again (it may have crossed threads). */
  input?: Float32Array;
  /**
   * Hands `data`'s memory back for a later run's output: call once `data` is read, and read it no more. Set where
   * the output lies in memory shared with the inference worker (worker-model.ts); one never handed back is left to
   * the collector.
   */
  recycle?: () => void;
}

export interface Model {
  info: ModelInfo;
  /** Runs one batch: `input` holds `batch` CHW images. Returns the raw output tensor. */
  run(input: Float32Array, batch: number): Promise<ModelOutput>;
  release(): Promise<void>;
  /** Why the model can no longer run (its worker thread died), or undefined while it can. */
  failure?(): Error | undefined;
  /** The kernel ids of the threads that run its inference, where they are known (a session in a worker, on Linux). */
  threads?: readonly number[];
}

/** Reads, verifies and describes a model file without creating a session (also used by `inspect`). */
export async function describeModelFile(
  file: string,
): Promise<{ buffer: Buffer; sha256: string; onnx: OnnxModelInfo }> {
  let buffer: Buffer;
  try {
    buffer = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : `cannot be read (${code})`;
    throw new ModelLoadError(`model file ${file} ${why}`);
  }
  const sha256 = createHash('sha256').update(buffer).digest('hex');
  let onnx: OnnxModelInfo;
  try {
    onnx = readOnnxModelInfo(buffer);
  } catch (err) {
    const head = buffer.subarray(0, 512);
    const isText = head.length > 0 && head.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127));
    if (isText) throw new ModelLoadError(`model file ${file} is a text file, not an ONNX model`);
    throw new ModelLoadError(`model file ${file} is not a valid ONNX model (${(err as Error).message})`);
  }
  return { buffer, sha256, onnx };
}

function metadataValue<T>(onnx: OnnxModelInfo, key: string, parse: (s: string) => T): T | undefined {
  const raw = onnx.metadata.get(key);
  if (raw === undefined) return undefined;
  try {
    return parse(raw);
  } catch (err) {
    throw new ModelLoadError(`model metadata '${key}' cannot be parsed: ${(err as Error).message}`);
  }
}

async function createSession(buffer: Buffer, options: LoadOptions): Promise<[InferenceSession, Provider]> {
  const providers = options.providers.length > 0 ? options.providers : (['cpu'] as Provider[]);
  let lastError: unknown;
  for (let i = 0; i < providers.length; i++) {
    const provider = providers[i]!;
    try {
      const session = await InferenceSession.create(buffer, {
        executionProviders: [provider],
        graphOptimizationLevel: 'all',
        // On the CPU, a memory pattern (one block planned for every intermediate tensor, taken from the arena each
        // run) raised a session's peak by about 20 MB against taking each tensor from the arena as it is needed, at
        // no measurable speed (docs/performance.md, Memory). Left as it was on CUDA, where it was not measured.
        enableMemPattern: provider !== 'cpu',
        ...(options.quiet ? { logSeverityLevel: 4 as const } : {}),
        ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
        // onnxruntime's session config entry session.intra_op.allow_spinning (onnxruntime_session_options_config_keys.h).
        extra: { session: { intra_op: { allow_spinning: options.spinning ? '1' : '0' } } },
      });
      return [session, provider];
    } catch (err) {
      lastError = err;
      const next = providers[i + 1];
      if (next) options.onFallback?.(provider, next, (err as Error).message.split('\n')[0] ?? String(err));
    }
  }
  throw new ModelLoadError(`onnxruntime cannot load the model: ${(lastError as Error)?.message ?? lastError}`);
}

export async function loadModel(file: string, options: LoadOptions): Promise<Model> {
  const { buffer, sha256, onnx } = await describeModelFile(file);
  if (options.expectedSha256 && options.expectedSha256 !== sha256) {
    throw new ModelLoadError(
      `model file ${file} has sha256 ${sha256}, but MODEL_SHA256 pins ${options.expectedSha256}: refusing to serve it`,
    );
  }
  const [session, provider] = await createSession(buffer, options);
  try {
    const info = describeSession(session, file, sha256, buffer.length, onnx, options.name, provider);
    return {
      info,
      async run(input, batch) {
        const [h, w] = info.inputSize;
        const dims = [batch, 3, h, w];
        // A half=True export takes and gives float16; the rest of the pipeline stays float32.
        const tensor =
          info.inputType === 'float16'
            ? new Tensor('float16', toFloat16Bits(input), dims)
            : new Tensor('float32', input, dims);
        const t0 = performance.now();
        const out = await session.run({ [info.inputName]: tensor });
        const runMs = performance.now() - t0;
        const value = out[info.outputName];
        if (!value || value.type !== info.outputType) {
          throw new Error(`model output ${info.outputName} is not ${info.outputType}`);
        }
        const data =
          value.type === 'float16'
            ? value.data instanceof Uint16Array
              ? fromFloat16Bits(value.data)
              : Float32Array.from(value.data as ArrayLike<number>)
            : (value.data as Float32Array);
        return { data, dims: [...value.dims], runMs, input };
      },
      release: () => session.release(),
    };
  } catch (err) {
    await session.release();
    throw err;
  }
}

function describeSession(
  session: InferenceSession,
  file: string,
  sha256: string,
  bytes: number,
  onnx: OnnxModelInfo,
  name: string | undefined,
  provider: Provider,
): ModelInfo {
  if (session.inputNames.length !== 1) {
    throw new ModelLoadError(`a detector has one input; this model has ${session.inputNames.length}`);
  }
  if (session.outputNames.length < 1) throw new ModelLoadError('the model has no output');
  const input = session.inputMetadata[0]!;
  const output = session.outputMetadata[0]!;
  const isFloat = (type: string): type is 'float32' | 'float16' => type === 'float32' || type === 'float16';
  if (!input.isTensor || !isFloat(input.type) || input.shape.length !== 4) {
    throw new ModelLoadError(
      `a detector takes one float32 or float16 [B, 3, H, W] image tensor; input '${input.name}' is ` +
        (input.isTensor ? `${input.type} [${input.shape.join(', ')}]` : 'not a tensor'),
    );
  }
  if (!output.isTensor || !isFloat(output.type)) {
    throw new ModelLoadError(`output '${output.name}' is not a float32 or float16 tensor`);
  }
  const classNames = metadataValue(onnx, 'names', parseClassNames);
  const imgsz = metadataValue(onnx, 'imgsz', parseImageSize);
  const stride = metadataValue(onnx, 'stride', (s) => Number(parsePythonLiteral(s)));
  const task = onnx.metadata.get('task');
  if (task !== undefined && task !== 'detect') {
    throw new ModelLoadError(`the model's task is '${task}'; this service runs 'detect' models`);
  }
  const [, channels, h, w] = input.shape;
  if (channels !== 3 && typeof channels === 'number') {
    throw new ModelLoadError(`the model input has ${channels} channels; a detector takes 3 (RGB)`);
  }
  const height = typeof h === 'number' && h > 0 ? h : imgsz?.[0];
  const width = typeof w === 'number' && w > 0 ? w : imgsz?.[1];
  if (!height || !width) {
    throw new ModelLoadError('the model input size is dynamic and the metadata has no imgsz to fix it');
  }
  const outputShape = [...output.shape] as (number | string)[];
  const end2end = onnx.metadata.get('end2end') === 'True' || /'nms':\s*True/.test(onnx.metadata.get('args') ?? '');
  let layout: OutputLayout;
  let classCount: number;
  try {
    ({ layout, classCount } = detectLayout(outputShape, classNames?.length, end2end));
  } catch (err) {
    throw new ModelLoadError((err as Error).message);
  }
  const batchDim = input.shape[0];
  return {
    name: name ?? path.basename(file).replace(/\.onnx$/i, ''),
    path: file,
    sha256,
    bytes,
    inputName: input.name,
    outputName: output.name,
    inputSize: [height, width],
    classNames: classNames ?? Array.from({ length: classCount }, (_, i) => `class${i}`),
    layout,
    stride: Number.isFinite(stride) ? stride : undefined,
    task,
    batch: typeof batchDim === 'number' && batchDim > 0 ? 'static' : 'dynamic',
    inputShape: [...input.shape] as (number | string)[],
    outputShape,
    quantized: onnx.opTypes.some((op) => QUANTIZED_OPS.has(op)),
    inputType: input.type,
    outputType: output.type,
    onnx,
    provider,
    opsOffProvider: opsWithoutKernel(provider, onnx.opTypes),
  };
}
