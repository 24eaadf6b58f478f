import path from 'node:path';
import { buildRuntimeTree, expand, runtimePrunePatterns as patterns } from '../../func/bench/runtime-size.js';
import { ROOT } from './paths.js';

/** The Dockerfile's trim of node_modules (func/bench/runtime-size.ts reads it), for this checkout. */
export const runtimePrunePatterns = (arch: string = process.arch): string[] => patterns(ROOT, arch);
export { expand };
/** The image's node_modules and package files, built in `app` from this checkout. */
export const runtimeTree = (app: string): void => buildRuntimeTree(ROOT, path.resolve(app));
