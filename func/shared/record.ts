import { DetectionError } from './errors.js';

/**
 * The detection record: what the detector replies with, writes next to each annotated image and sends on in
 * its `yolo.detection.completed` event, and what the logging service stores. Declared once here, for every
 * program, with the validator for records received from elsewhere.
 */

/** The event types of the contract. */
export const REQUEST_TYPE = 'yolo.detection.requested';
export const REPLY_TYPE = 'yolo.detection.completed';

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Detection {
  classId: number;
  label: string;
  confidence: number;
  box: Box;
}

export interface Timings {
  decodeMs: number;
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
  annotateMs: number;
  totalMs: number;
}

export interface ModelSummary {
  name: string;
  sha256: string;
  inputSize: [number, number];
  classes: number;
}

export interface DetectionRecord {
  requestId: string;
  requestSource: string;
  input: { path: string } | { contentType: string; bytes: number };
  image: { width: number; height: number };
  model: ModelSummary;
  detections: Detection[];
  output: { image: string | null; json: string };
  timings: Timings;
}

/**
 * Checks that untrusted data (an event received by the logging service) has the record's shape, and names the
 * first field that does not.
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
