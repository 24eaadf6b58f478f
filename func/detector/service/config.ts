import {
  ConfigError,
  filePath,
  integer,
  loadProcessConfig,
  number,
  PROCESS_VARIABLES,
  raw,
  type Env,
  type ProcessConfig,
} from '../../shared/env.js';
import { loadTracingConfig, TRACING_VARIABLES, type TracingConfig } from '../../shared/tracing.js';
import { optionDefaultsFromEnv, OPTION_VARIABLES, type OptionDefaults } from '../contract/options.js';

/**
 * The detector's configuration: the one place where its environment is read (the function, the container server
 * and the batch CLI all load it here). Every variable is validated once, at start.
 */

export type ExecutionProvider = 'cpu' | 'cuda';

export interface Config extends ProcessConfig {
  tracing: TracingConfig;
  modelPath: string;
  modelName: string | undefined;
  modelSha256: string | undefined;
  inputDir: string;
  outputDir: string;
  /** conf, iou and maxDetections for requests that do not set them (the options table's variables). */
  defaults: OptionDefaults;
  executionProviders: ExecutionProvider[];
  maxImageBytes: number;
  maxImagePixels: number;
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose (one per core). */
  inferenceThreads: number;
  /** Sessions of the model, each in its own worker thread; runs go to the least busy. */
  inferenceWorkers: number;
  /** onnxruntime's intra-op threads spin between runs (INFERENCE_SPINNING=1); off by default. */
  inferenceSpinning: boolean;
  /** libvips threads for decoding, resizing and encoding; 0 means one per core. */
  imageThreads: number;
  /** The nice value of every thread but the inference ones (thread-priority.ts); 0 leaves them all equal. */
  otherThreadsNice: number;
  /** Most images per session.run when the model's batch axis is dynamic; 1 turns batching off. */
  maxBatch: number;
  /** How long the first image of a batch waits for batch-mates. */
  maxBatchDelayMs: number;
}

/** Every variable this module reads, for the manifest cross-checks and the README table. */
export const CONFIG_VARIABLES = [
  'MODEL_PATH',
  'MODEL_NAME',
  'MODEL_SHA256',
  'INPUT_DIR',
  'OUTPUT_DIR',
  ...OPTION_VARIABLES,
  'EXECUTION_PROVIDERS',
  'MAX_IMAGE_BYTES',
  'MAX_IMAGE_PIXELS',
  ...PROCESS_VARIABLES,
  'INFERENCE_THREADS',
  'INFERENCE_WORKERS',
  'INFERENCE_SPINNING',
  'OTHER_THREADS_NICE',
  'IMAGE_THREADS',
  'MAX_BATCH',
  'MAX_BATCH_DELAY_MS',
  ...TRACING_VARIABLES,
] as const;

function providers(env: Env): ExecutionProvider[] {
  const text = raw(env, 'EXECUTION_PROVIDERS') ?? 'cpu';
  const list = text.split(',').map((p) => p.trim().toLowerCase());
  const allowed: readonly string[] = ['cpu', 'cuda'];
  for (const p of list) {
    if (!allowed.includes(p)) {
      throw new ConfigError('EXECUTION_PROVIDERS', `must be a comma-separated list of cpu, cuda; got "${text}"`);
    }
  }
  if (new Set(list).size !== list.length) {
    throw new ConfigError('EXECUTION_PROVIDERS', `lists a provider twice: "${text}"`);
  }
  return list as ExecutionProvider[];
}

export function loadConfig(env: Env = process.env): Config {
  const sha = raw(env, 'MODEL_SHA256')?.toLowerCase();
  if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha)) {
    throw new ConfigError('MODEL_SHA256', `must be 64 hexadecimal characters, got "${sha}"`);
  }
  return {
    ...loadProcessConfig(env),
    tracing: loadTracingConfig(env),
    modelPath: filePath(env, 'MODEL_PATH', undefined),
    modelName: raw(env, 'MODEL_NAME'),
    modelSha256: sha,
    inputDir: filePath(env, 'INPUT_DIR', '/data/input'),
    outputDir: filePath(env, 'OUTPUT_DIR', '/data/output'),
    defaults: optionDefaultsFromEnv(env),
    executionProviders: providers(env),
    maxImageBytes: integer(env, 'MAX_IMAGE_BYTES', 20 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    maxImagePixels: integer(env, 'MAX_IMAGE_PIXELS', 40_000_000, 1024, 1_000_000_000),
    inferenceThreads: integer(env, 'INFERENCE_THREADS', 0, 0, 256),
    inferenceSpinning: integer(env, 'INFERENCE_SPINNING', 0, 0, 1) === 1,
    inferenceWorkers: integer(env, 'INFERENCE_WORKERS', 1, 1, 16),
    imageThreads: integer(env, 'IMAGE_THREADS', 0, 0, 256),
    otherThreadsNice: integer(env, 'OTHER_THREADS_NICE', 19, 0, 19),
    maxBatch: integer(env, 'MAX_BATCH', 1, 1, 64),
    maxBatchDelayMs: number(env, 'MAX_BATCH_DELAY_MS', 5, { min: 0, max: 1000, integer: false }),
  };
}

/** The detector's settings from the configuration: the same for the servers and the batch CLI. */
export function detectorDefaults(config: Config, inputDir: string = config.inputDir) {
  return {
    ...config.defaults,
    inputDir,
    maxImageBytes: config.maxImageBytes,
    maxImagePixels: config.maxImagePixels,
  };
}
