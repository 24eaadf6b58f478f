import type { DetectOptions } from '../core/detector.js';
import { DetectionError } from '../core/errors.js';

/**
 * Validation of the per-request options, shared by the CloudEvent JSON data and the multipart form fields.
 * Each bad option is reported by name.
 */

const bad = (name: string, why: string): DetectionError =>
  new DetectionError('INVALID_OPTION', `Option "${name}" ${why}.`);

function fraction(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw bad(name, 'must be a number from 0 to 1');
  return v;
}

export const MAX_DETECTIONS_LIMIT = 10000;

export function validateOptions(data: Readonly<Record<string, unknown>>): Partial<DetectOptions> {
  const out: Partial<DetectOptions> = {};
  if (data.conf !== undefined) out.conf = fraction('conf', data.conf);
  if (data.iou !== undefined) out.iou = fraction('iou', data.iou);
  if (data.maxDetections !== undefined) {
    const v = data.maxDetections;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_DETECTIONS_LIMIT) {
      throw bad('maxDetections', `must be an integer from 1 to ${MAX_DETECTIONS_LIMIT}`);
    }
    out.maxDetections = v;
  }
  if (data.classes !== undefined) {
    const v = data.classes;
    if (!Array.isArray(v) || v.length === 0 || v.length > 1000) {
      throw bad('classes', 'must be a non-empty array of class names');
    }
    for (const c of v) {
      if (typeof c !== 'string' || c.trim() === '' || c.length > 200) {
        throw bad('classes', 'must hold only non-empty class names (strings)');
      }
    }
    out.classes = [...new Set((v as string[]).map((c) => c.trim()))];
  }
  if (data.annotate !== undefined) {
    if (typeof data.annotate !== 'boolean') throw bad('annotate', 'must be true or false');
    out.annotate = data.annotate;
  }
  return out;
}

/** The multipart form sends strings: convert the known fields, then validate as above. */
export function optionsFromForm(fields: Readonly<Record<string, string | undefined>>): Partial<DetectOptions> {
  const data: Record<string, unknown> = {};
  const num = (name: string): void => {
    const v = fields[name];
    if (v === undefined || v.trim() === '') return;
    const n = Number(v);
    if (!Number.isFinite(n)) throw bad(name, `must be a number, got "${v.slice(0, 40)}"`);
    data[name] = n;
  };
  num('conf');
  num('iou');
  num('maxDetections');
  if (fields.classes !== undefined && fields.classes.trim() !== '') {
    data.classes = fields.classes
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean);
  }
  if (fields.annotate !== undefined && fields.annotate.trim() !== '') {
    const a = fields.annotate.trim().toLowerCase();
    if (a !== 'true' && a !== 'false') throw bad('annotate', 'must be true or false');
    data.annotate = a === 'true';
  }
  return validateOptions(data);
}
