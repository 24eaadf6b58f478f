import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { OPTION_NAMES, optionsFromStrings, REQUEST_OPTIONS } from '../detector/contract/options.js';
import { Detector } from '../detector/core/detector.js';
import { loadModel } from '../detector/core/model.js';
import { OutputStore } from '../detector/core/storage.js';
import { detectorDefaults, loadConfig } from '../detector/service/config.js';
import { ConfigError } from '../shared/env.js';
import { inSpan, shutdownTracing, startTracing } from '../shared/tracing.js';
import { collectInputs, runBatch, summaryCsv, type ItemResult } from './batch.js';
import { UsageError } from './usage-error.js';

function integer(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer of at least ${min}`);
  return n;
}

function describe(r: ItemResult): string {
  switch (r.status) {
    case 'done':
      return `${r.detections} detections (${r.ms} ms)`;
    case 'skipped':
      return 'skipped: outputs exist (--force redoes it)';
    case 'not-an-image':
      return 'skipped: not an image';
    case 'failed':
      return `FAILED: ${r.error}`;
  }
}

/** The request options as flags (`--max-detections`, …), all strings, parsed as the upload form's fields are. */
const OPTION_FLAGS = Object.fromEntries(
  OPTION_NAMES.map((name) => [REQUEST_OPTIONS[name].flag, { type: 'string' as const }]),
);

/** `knative-yolo detect`: batch mode over a folder, as a person at a terminal or a Kubernetes Job runs it. */
export async function detect(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      model: { type: 'string' },
      ...OPTION_FLAGS,
      concurrency: { type: 'string' },
      force: { type: 'boolean', default: false },
      'shard-index': { type: 'string' },
      'shard-count': { type: 'string' },
    },
  });
  if (positionals.length === 0) throw new UsageError('detect needs at least one folder or file');
  if (!values.out) throw new UsageError('detect needs --out <folder>');
  const shardCount = integer('shard-count', values['shard-count'], 1, 1);
  const shardIndex = integer('shard-index', values['shard-index'], 0, 0);
  if (shardIndex >= shardCount) throw new UsageError(`--shard-index must be below --shard-count (${shardCount})`);
  const concurrency = integer('concurrency', values.concurrency, 2, 1);

  let config;
  try {
    config = loadConfig({ ...process.env, ...(values.model ? { MODEL_PATH: values.model } : {}) });
  } catch (err) {
    if (err instanceof ConfigError && err.variable === 'MODEL_PATH')
      throw new UsageError('give --model or set MODEL_PATH');
    throw err;
  }
  const flags = values as Record<string, unknown>;
  const options = optionsFromStrings(
    Object.fromEntries(OPTION_NAMES.map((name) => [name, flags[REQUEST_OPTIONS[name].flag] as string | undefined])),
  );

  const inputs = await collectInputs(positionals);
  const model = await loadModel(config.modelPath, { name: config.modelName, providers: config.executionProviders });
  const out = new OutputStore(values.out);
  const detector = new Detector(model, out, detectorDefaults(config, '/'));
  detector.classFilterFor(options.classes);

  // A bar for a person at a terminal; one plain line per image for logs (a Job's pod, CI).
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { format: '{bar} {value}/{total} images | {file}', stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const warnings: string[] = [];
  await startTracing(config.tracing, 'knative-yolo-cli');
  const summary = await inSpan('knative-yolo detect', () =>
    runBatch(detector, inputs, {
      out,
      options,
      concurrency,
      force: values.force,
      shardIndex,
      shardCount,
      onItem: (r, done, total) => {
        if (r.status === 'not-an-image') warnings.push(`warning: skipped ${r.file}: not an image`);
        if (bar) {
          if (done === 1) bar.start(total, 0, { file: '' });
          bar.update(done, { file: r.file });
        } else {
          process.stderr.write(`[${done}/${total}] ${r.file}: ${describe(r)}\n`);
        }
      },
    }),
  );
  bar?.stop();
  await model.release();
  await shutdownTracing();
  for (const w of warnings) if (bar) process.stderr.write(w + '\n');

  const name = shardCount > 1 ? `summary-${shardIndex}-of-${shardCount}` : 'summary';
  await out.write([
    { relativePath: `${name}.csv`, data: summaryCsv(summary) },
    { relativePath: `${name}.json`, data: JSON.stringify(summary, null, 2) + '\n' },
  ]);
  const t = summary.totals;
  process.stdout.write(
    `${t.images} images: ${t.done} done, ${t.skipped} skipped, ${t.failed} failed; ` +
      `${t['not-an-image']} other files skipped; ${t.detections} detections. Summary: ${out.resolve(name + '.json')}\n`,
  );
  for (const f of summary.failed) process.stderr.write(`failed: ${f.file}: ${f.error}\n`);
  return t.failed > 0 ? 1 : 0;
}
