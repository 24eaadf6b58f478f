import { pino, type BaseLogger, type Logger } from 'pino';
import type { LogLevel } from './env.js';

/**
 * Structured JSON logs on stdout, one line per event, as cluster log collectors expect. Request bodies are
 * never logged: images are large and may be private.
 */
export function createLogger(level: LogLevel, name: string): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.body', 'body', 'data', 'data_base64'], remove: true },
  });
}

/**
 * What the contract and service need of a logger. Both pino's Logger and fastify's request logger satisfy it,
 * so each adapter passes its own, with its request id already bound.
 */
export type Log = Pick<BaseLogger, 'info' | 'warn' | 'error' | 'debug'> & {
  child(bindings: Record<string, unknown>): Log;
};
