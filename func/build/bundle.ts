import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The container server as one bundle (dist/server/start.js and its inference worker), built from tsc's output.
 * A cold pod's start is mostly Node resolving, reading and compiling over 400 module files of fastify, ajv, pino,
 * prom-client and cloudevents on its main thread while the model loads beside it; one file per chunk takes a
 * quarter off start → ready (docs/performance.md). Native packages stay in node_modules, loaded as they are.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DIST = path.join(ROOT, 'dist');

const outdir = path.join(DIST, 'server');
// esbuild names chunks by content hash and never deletes: clear out the last build's.
await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: [
    path.join(DIST, 'func', 'detector', 'server', 'start.js'),
    // Its own entry, found beside the chunk that starts it: worker-model.ts resolves './inference-worker.js'.
    path.join(DIST, 'func', 'detector', 'core', 'inference-worker.js'),
  ],
  outdir,
  entryNames: '[name]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: [
    'sharp',
    'onnxruntime-node',
    'better-sqlite3',
    // OpenTelemetry as Node loads it (tracing.test.ts caught both): the SDK, imported only when tracing is on,
    // would be a CommonJS chunk with a default export only; and the API must be the SDK's own copy, or the
    // tracer taken at import never sees the provider the SDK registers.
    '@opentelemetry/*',
  ],
  // The bundled CommonJS packages call require() for Node's own modules; ESM has none of its own.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
