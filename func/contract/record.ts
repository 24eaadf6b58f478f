import type { DetectionRecord } from '../core/detector.js';
import { DetectionError } from '../core/errors.js';

/**
 * Validation of a detection record received from elsewhere (the logging service reads the detector's reply
 * events). The type is declared once, in the core; this checks that untrusted data has that shape, and names
 * the first field that does not.
 */

const bad = (field: string, want: string): DetectionError =>
  new DetectionError('INVALID_DATA', `The detection record's ${field} must be ${want}.`);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function string(o: Record<string, unknown>, key: string, path: string, optional = false): void {
  const v = o[key];
  if (optional && (v === undefined || v === null)) return;
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw bad(`${path}${key}`, 'a non-empty string');
}

export function parseDetectionRecord(data: unknown): DetectionRecord {
  if (!isObject(data))
    throw new DetectionError('INVALID_DATA', 'The event data must be a detection record (a JSON object).');
  string(data, 'requestId', '');
  string(data, 'requestSource', '');
  const input = data.input;
  if (
    !isObject(input) ||
    !(typeof input.path === 'string' || (typeof input.contentType === 'string' && num(input.bytes)))
  ) {
    throw bad('input', '{"path"} or {"contentType", "bytes"}');
  }
  const image = data.image;
  if (!isObject(image) || !num(image.width) || !num(image.height)) throw bad('image', '{"width", "height"} numbers');
  const model = data.model;
  if (!isObject(model)) throw bad('model', 'an object');
  string(model, 'name', 'model.');
  string(model, 'sha256', 'model.');
  if (!Array.isArray(data.detections)) throw bad('detections', 'an array');
  if (data.detections.length > 100_000) throw bad('detections', 'at most 100000 entries');
  data.detections.forEach((d: unknown, i: number) => {
    const where = `detections[${i}]`;
    if (!isObject(d)) throw bad(where, 'an object');
    if (!num(d.classId) || !Number.isInteger(d.classId)) throw bad(`${where}.classId`, 'an integer');
    string(d, 'label', `${where}.`);
    if (!num(d.confidence) || d.confidence < 0 || d.confidence > 1)
      throw bad(`${where}.confidence`, 'a number from 0 to 1');
    const b = d.box;
    if (!isObject(b) || !num(b.x1) || !num(b.y1) || !num(b.x2) || !num(b.y2)) {
      throw bad(`${where}.box`, '{"x1", "y1", "x2", "y2"} numbers');
    }
  });
  const output = data.output;
  if (!isObject(output)) throw bad('output', 'an object');
  string(output, 'json', 'output.');
  string(output, 'image', 'output.', true);
  const timings = data.timings;
  if (!isObject(timings) || !num(timings.totalMs)) throw bad('timings.totalMs', 'a number');
  return data as unknown as DetectionRecord;
}
