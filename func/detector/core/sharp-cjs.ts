import { createRequire } from 'node:module';
import type SharpFunction from 'sharp';

/**
 * sharp, loaded through its CommonJS entry. Its ES module entry brings each of its files, and all of semver, in
 * through Node's ES module loader, which costs a cold start main-thread time beside the model's load: on the Zen 5
 * machine of runs AX–BA, importing it took 163–176 ms against 97–109 for requiring it, and the server's start →
 * ready fell by about 70 ms with it (docs/performance.md). Both entries load the same native module and libvips.
 */
const sharp = createRequire(import.meta.url)('sharp') as typeof SharpFunction;

export default sharp;
export type { Metadata, Sharp } from 'sharp';
