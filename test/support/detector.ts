import { optionDefaultsFromEnv } from '../../func/detector/contract/options.js';
import { Detector, type DetectorDefaults } from '../../func/detector/core/detector.js';
import type { Model } from '../../func/detector/core/model.js';
import { OutputStore } from '../../func/detector/core/storage.js';
import { IMAGES } from './paths.js';

/** The thresholds the service defaults to with no variable set, and generous size limits, reading the shared images. */
export const DEFAULTS: DetectorDefaults = {
  ...optionDefaultsFromEnv({}),
  inputDir: IMAGES,
  maxImageBytes: 20e6,
  maxImagePixels: 40e6,
};

/** A real Detector on `model`, writing to `out` (a folder that need not exist when nothing is written). */
export const testDetector = (model: Model, out: string, defaults: Partial<DetectorDefaults> = {}): Detector =>
  new Detector(model, new OutputStore(out), { ...DEFAULTS, ...defaults });
