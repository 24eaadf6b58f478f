import { ConfigError, outOfRange, raw, type Env, type NumberRange } from '../../shared/env.js';
import { DetectionError } from '../../shared/errors.js';
import type { DetectOptions } from '../core/detector.js';

/**
 * The one table of per-request options. Everything that names an option derives from it: the validation of
 * CloudEvent data, the multipart form fields and the batch CLI's flags (both strings, parsed one way), and the
 * service defaults read from the environment with the same range as a request may ask for.
 */

type NumberSpec = { kind: 'number'; range: NumberRange; default: number; env: string };
type OptionSpec = (NumberSpec | { kind: 'names' } | { kind: 'boolean'; default: boolean }) & {
  /** The batch CLI's flag; the form field and the JSON key are the option's own name. */
  flag: string;
  help: string;
};

export const REQUEST_OPTIONS = {
  conf: {
    kind: 'number',
    range: { min: 0, max: 1, integer: false },
    default: 0.25,
    env: 'CONF_THRESHOLD',
    flag: 'conf',
    help: 'minimum confidence of a detection',
  },
  iou: {
    kind: 'number',
    range: { min: 0, max: 1, integer: false },
    default: 0.7,
    env: 'IOU_THRESHOLD',
    flag: 'iou',
    help: 'IoU above which non-maximum suppression merges two boxes',
  },
  maxDetections: {
    kind: 'number',
    range: { min: 1, max: 10000, integer: true },
    default: 300,
    env: 'MAX_DETECTIONS',
    flag: 'max-detections',
    help: 'most detections kept per image',
  },
  classes: { kind: 'names', flag: 'classes', help: 'class names to keep (all when unset)' },
  annotate: { kind: 'boolean', default: true, flag: 'annotate', help: 'write the annotated image' },
} as const satisfies Record<keyof DetectOptions, OptionSpec>;

export type OptionName = keyof typeof REQUEST_OPTIONS;
export const OPTION_NAMES = Object.keys(REQUEST_OPTIONS) as OptionName[];

/** The options that have a service-wide default in the environment. */
export type OptionDefaults = Pick<DetectOptions, 'conf' | 'iou' | 'maxDetections'>;

const bad = (name: string, why: string): DetectionError =>
  new DetectionError('INVALID_OPTION', `Option "${name}" ${why}.`);

function checkOne(name: OptionName, v: unknown): unknown {
  const spec: OptionSpec = REQUEST_OPTIONS[name];
  switch (spec.kind) {
    case 'number': {
      const why = outOfRange(v, spec.range);
      if (why) throw bad(name, why);
      return v;
    }
    case 'boolean':
      if (typeof v !== 'boolean') throw bad(name, 'must be true or false');
      return v;
    case 'names': {
      if (!Array.isArray(v) || v.length === 0 || v.length > 1000) {
        throw bad(name, 'must be a non-empty array of class names');
      }
      for (const c of v) {
        if (typeof c !== 'string' || c.trim() === '' || c.length > 200) {
          throw bad(name, 'must hold only non-empty class names (strings)');
        }
      }
      return [...new Set((v as string[]).map((c) => c.trim()))];
    }
  }
}

/** Validates options given as JSON values (CloudEvent data). An unknown key is an error, named. */
export function validateOptions(data: Readonly<Record<string, unknown>>): Partial<DetectOptions> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (!(key in REQUEST_OPTIONS)) {
      throw bad(key, `is unknown; known options are ${OPTION_NAMES.join(', ')}`);
    }
    if (value !== undefined) out[key] = checkOne(key as OptionName, value);
  }
  return out as Partial<DetectOptions>;
}

/** Options given as strings (form fields, CLI flags): converted by the table's types, then validated as above. */
export function optionsFromStrings(fields: Readonly<Partial<Record<OptionName, string>>>): Partial<DetectOptions> {
  const data: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) {
    const text = fields[name]?.trim();
    if (text === undefined || text === '') continue;
    const spec: OptionSpec = REQUEST_OPTIONS[name];
    if (spec.kind === 'number') {
      const n = Number(text);
      if (!Number.isFinite(n)) throw bad(name, `must be a number, got "${text.slice(0, 40)}"`);
      data[name] = n;
    } else if (spec.kind === 'boolean') {
      const a = text.toLowerCase();
      if (a !== 'true' && a !== 'false') throw bad(name, 'must be true or false');
      data[name] = a === 'true';
    } else {
      data[name] = text
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean);
    }
  }
  return validateOptions(data);
}

/** The service defaults: each number option's environment variable, in the range a request may ask for. */
export function optionDefaultsFromEnv(env: Env): OptionDefaults {
  const read = (name: 'conf' | 'iou' | 'maxDetections'): number => {
    const spec = REQUEST_OPTIONS[name];
    const text = raw(env, spec.env);
    if (text === undefined) return spec.default;
    const why = outOfRange(Number(text), spec.range);
    if (why) throw new ConfigError(spec.env, `${why}, got "${text}"`);
    return Number(text);
  };
  return { conf: read('conf'), iou: read('iou'), maxDetections: read('maxDetections') };
}

/** The environment variables of the option defaults, for the config table. */
export const OPTION_VARIABLES = [
  REQUEST_OPTIONS.conf.env,
  REQUEST_OPTIONS.iou.env,
  REQUEST_OPTIONS.maxDetections.env,
] as const;
