import path from 'node:path';
import { applyRuntimePrune as prune, expand, runtimePrunePatterns as patterns } from '../../func/bench/runtime-size.js';
import { ROOT } from './paths.js';

/** The Dockerfile's trim of node_modules (func/bench/runtime-size.ts reads it), for this checkout. */
export const runtimePrunePatterns = (arch: string = process.arch): string[] => patterns(ROOT, arch);
export { expand };
export const applyRuntimePrune = async (app: string): Promise<string[]> => prune(ROOT, path.resolve(app));
