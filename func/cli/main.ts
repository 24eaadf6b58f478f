#!/usr/bin/env node
/**
 * `knative-yolo`: the command line over the same core as the services.
 *   knative-yolo inspect <model.onnx> [--json] [--self-test IMAGE]
 *   knative-yolo detect <folder or files…> --out <folder> [options]
 * Exit codes: 0 done, 1 the input is unusable or an image failed (the reason is printed), 2 usage error.
 */
import { parseArgs } from 'node:util';
import { env } from '../detector/core/onnxruntime-cjs.js';
import { ModelLoadError } from '../detector/core/model.js';
import { DetectionError } from '../shared/errors.js';
import { detect } from './detect.js';
import { formatInspection, inspectModel } from './inspect.js';
import { UsageError } from './usage-error.js';

const USAGE = `usage:
  knative-yolo inspect <model.onnx> [--json] [--self-test IMAGE]
      Describe a model file: size, sha256, producer, opsets, input and output, the layout the detector
      will use, classes, input size, stride, batch, quantization, and the execution providers that can
      run it here. --self-test runs one image through the pipeline and prints the detections and time.

  knative-yolo detect <folder or files…> --out <folder> [--model M] [--conf C] [--iou I] [--classes a,b]
                      [--max-detections N] [--annotate false] [--concurrency N] [--force]
                      [--shard-index I --shard-count N]
      Detect objects in every image under the folders (recursively) and in the files given. For each image,
      <out>/<path>.json holds the detections and <out>/<path> the annotated image (<path>.png when the source
      is neither JPEG nor PNG). Images whose JSON exists are skipped unless --force. A summary is written to
      <out>/summary.json and summary.csv (summary-I-of-N.* for a shard). --model defaults to MODEL_PATH.
      Exits 1 if any image failed.`;

async function inspect(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, 'self-test': { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('inspect takes exactly one model file');
  const file = positionals[0]!;
  try {
    const result = await inspectModel(file, values['self-test']);
    process.stdout.write((values.json ? JSON.stringify(result, null, 2) : formatInspection(result)) + '\n');
    return 0;
  } catch (err) {
    const reason = ((err as Error).message ?? String(err)).split('\n')[0];
    process.stderr.write(`knative-yolo inspect: ${file}: ${reason}\n`);
    return 1;
  }
}

async function main(argv: string[]): Promise<number> {
  // The CLI reports every failure itself, in one line; onnxruntime's own log (set up by the first session)
  // would repeat it, in red, with source paths.
  env.logLevel = 'fatal';
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'inspect':
        return await inspect(rest);
      case 'detect':
        return await detect(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE + '\n');
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    const usage =
      err instanceof UsageError ||
      (err instanceof DetectionError && err.code === 'INVALID_OPTION') ||
      String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS');
    if (usage) {
      process.stderr.write(`knative-yolo: ${(err as Error).message}\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ModelLoadError || err instanceof DetectionError) {
      process.stderr.write(`knative-yolo ${command}: ${err.message.split('\n')[0]}\n`);
      return 1;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`knative-yolo: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
