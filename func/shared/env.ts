/**
 * Reading environment variables, for every program's config module. Each reader validates its variable and
 * throws ConfigError naming it, so a bad value stops the process at start with a message instead of failing on
 * the first request.
 */

export type Env = Readonly<Record<string, string | undefined>>;

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

/** The trimmed value, or undefined when unset or empty. */
export function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export interface NumberRange {
  min: number;
  max: number;
  integer: boolean;
}

/** Why `value` is not in the range, as the end of a sentence ("must be an integer from 1 to 64"), or undefined. */
export function outOfRange(value: unknown, range: NumberRange): string | undefined {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!range.integer || Number.isInteger(value)) &&
    value >= range.min &&
    value <= range.max;
  return ok ? undefined : `must be ${range.integer ? 'an integer' : 'a number'} from ${range.min} to ${range.max}`;
}

export function number(env: Env, name: string, fallback: number, range: NumberRange): number {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  const why = outOfRange(value, range);
  if (why) throw new ConfigError(name, `${why}, got "${text}"`);
  return value;
}

export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  return number(env, name, fallback, { min, max, integer: true });
}

export function filePath(env: Env, name: string, fallback: string | undefined): string {
  const text = raw(env, name) ?? fallback;
  if (text === undefined) throw new ConfigError(name, 'is required (an absolute or relative file path)');
  if (text.includes('\0')) throw new ConfigError(name, 'must not contain NUL bytes');
  return text;
}

export function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const text = raw(env, name) ?? fallback;
  if (!(allowed as readonly string[]).includes(text)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${text}"`);
  }
  return text as T;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** What every server reads: its port, its log level and its shutdown grace period. */
export interface ProcessConfig {
  port: number;
  logLevel: LogLevel;
  shutdownGraceMs: number;
}

export const PROCESS_VARIABLES = ['PORT', 'LOG_LEVEL', 'SHUTDOWN_GRACE_SECONDS'] as const;

export function loadProcessConfig(env: Env): ProcessConfig {
  return {
    port: integer(env, 'PORT', 8080, 1, 65535),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    shutdownGraceMs: number(env, 'SHUTDOWN_GRACE_SECONDS', 25, { min: 0, max: 3600, integer: false }) * 1000,
  };
}
