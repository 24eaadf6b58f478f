/**
 * The one place where the environment is read. Every variable is validated here, once, so that a bad value
 * stops the process at start with a message naming the variable, rather than failing on the first request.
 */

export type ExecutionProvider = 'cpu' | 'cuda';

export interface Config {
  modelPath: string;
  modelName: string | undefined;
  modelSha256: string | undefined;
  inputDir: string;
  outputDir: string;
  confThreshold: number;
  iouThreshold: number;
  maxDetections: number;
  executionProviders: ExecutionProvider[];
  maxImageBytes: number;
  maxImagePixels: number;
  port: number;
  logLevel: LogLevel;
  shutdownGraceMs: number;
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose (one per core). */
  inferenceThreads: number;
  /** libvips threads for decoding, resizing and encoding; 0 means one per core. */
  imageThreads: number;
  /** Most images per session.run when the model's batch axis is dynamic; 1 turns batching off. */
  maxBatch: number;
  /** How long the first image of a batch waits for batch-mates. */
  maxBatchDelayMs: number;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/**
 * Runs a loader at process start: an invalid variable prints `<program>: invalid configuration: <message>` and
 * exits 1, rather than a stack trace. Shared by every entry point.
 */
export function loadOrExit<T>(program: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${program}: invalid configuration: ${err.message}\n`);
    process.exit(1);
  }
}

/** Every variable this module reads, for the manifest cross-checks and the README table. */
export const CONFIG_VARIABLES = [
  'MODEL_PATH',
  'MODEL_NAME',
  'MODEL_SHA256',
  'INPUT_DIR',
  'OUTPUT_DIR',
  'CONF_THRESHOLD',
  'IOU_THRESHOLD',
  'MAX_DETECTIONS',
  'EXECUTION_PROVIDERS',
  'MAX_IMAGE_BYTES',
  'MAX_IMAGE_PIXELS',
  'PORT',
  'LOG_LEVEL',
  'SHUTDOWN_GRACE_SECONDS',
  'INFERENCE_THREADS',
  'IMAGE_THREADS',
  'MAX_BATCH',
  'MAX_BATCH_DELAY_MS',
] as const;

export type Env = Readonly<Record<string, string | undefined>>;

function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function number(env: Env, name: string, fallback: number, min: number, max: number, integer: boolean): number {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  const kind = integer ? 'an integer' : 'a number';
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    throw new ConfigError(name, `must be ${kind} from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

function absolutePath(env: Env, name: string, fallback: string | undefined): string {
  const text = raw(env, name) ?? fallback;
  if (text === undefined) throw new ConfigError(name, 'is required (an absolute or relative file path)');
  if (text.includes('\0')) throw new ConfigError(name, 'must not contain NUL bytes');
  return text;
}

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
  const logLevel = (raw(env, 'LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  return {
    modelPath: absolutePath(env, 'MODEL_PATH', undefined),
    modelName: raw(env, 'MODEL_NAME'),
    modelSha256: sha,
    inputDir: absolutePath(env, 'INPUT_DIR', '/data/input'),
    outputDir: absolutePath(env, 'OUTPUT_DIR', '/data/output'),
    confThreshold: number(env, 'CONF_THRESHOLD', 0.25, 0, 1, false),
    iouThreshold: number(env, 'IOU_THRESHOLD', 0.7, 0, 1, false),
    maxDetections: number(env, 'MAX_DETECTIONS', 300, 1, 10000, true),
    executionProviders: providers(env),
    maxImageBytes: number(env, 'MAX_IMAGE_BYTES', 20 * 1024 * 1024, 1024, 512 * 1024 * 1024, true),
    maxImagePixels: number(env, 'MAX_IMAGE_PIXELS', 40_000_000, 1024, 1_000_000_000, true),
    port: number(env, 'PORT', 8080, 1, 65535, true),
    logLevel,
    shutdownGraceMs: number(env, 'SHUTDOWN_GRACE_SECONDS', 25, 0, 3600, false) * 1000,
    inferenceThreads: number(env, 'INFERENCE_THREADS', 0, 0, 256, true),
    imageThreads: number(env, 'IMAGE_THREADS', 0, 0, 256, true),
    maxBatch: number(env, 'MAX_BATCH', 1, 1, 64, true),
    maxBatchDelayMs: number(env, 'MAX_BATCH_DELAY_MS', 5, 0, 1000, false),
  };
}

/** The logging service's configuration (`npm run logging`). */
export interface LoggingConfig {
  /** PostgreSQL connection string; when set, PostgreSQL is the store (several replicas can share it). */
  databaseUrl: string | undefined;
  /** SQLite file, used when DATABASE_URL is not set (one replica). */
  databasePath: string;
  /** How long a SQLite write waits for a lock before the event is answered 503 (retryable). */
  databaseBusyTimeoutMs: number;
  port: number;
  logLevel: LogLevel;
  shutdownGraceMs: number;
}

export const LOGGING_CONFIG_VARIABLES = [
  'DATABASE_URL',
  'DATABASE_PATH',
  'DATABASE_BUSY_TIMEOUT_MS',
  'PORT',
  'LOG_LEVEL',
  'SHUTDOWN_GRACE_SECONDS',
] as const;

export function loadLoggingConfig(env: Env = process.env): LoggingConfig {
  const url = raw(env, 'DATABASE_URL');
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// connection string');
  }
  const logLevel = (raw(env, 'LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  return {
    databaseUrl: url,
    databasePath: absolutePath(env, 'DATABASE_PATH', '/data/logs/detections.db'),
    databaseBusyTimeoutMs: number(env, 'DATABASE_BUSY_TIMEOUT_MS', 5000, 0, 600_000, true),
    port: number(env, 'PORT', 8080, 1, 65535, true),
    logLevel,
    shutdownGraceMs: number(env, 'SHUTDOWN_GRACE_SECONDS', 25, 0, 3600, false) * 1000,
  };
}
