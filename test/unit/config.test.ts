import t from 'tap';
import { loadConfig } from '../../func/detector/service/config.js';
import { ConfigError } from '../../func/shared/env.js';

t.test('defaults', async (t) => {
  const c = loadConfig({ MODEL_PATH: '/models/m.onnx' });
  t.match(c, {
    modelPath: '/models/m.onnx',
    inputDir: '/data/input',
    outputDir: '/data/output',
    defaults: { conf: 0.25, iou: 0.7, maxDetections: 300 },
    executionProviders: ['cpu'],
    port: 8080,
  });
});

t.test('each invalid value names its variable and the allowed range', async (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /^MODEL_PATH: is required/],
    [{ CONF_THRESHOLD: '1.5' }, /^CONF_THRESHOLD: must be a number from 0 to 1, got "1.5"/],
    [{ IOU_THRESHOLD: 'abc' }, /^IOU_THRESHOLD: must be a number from 0 to 1/],
    [{ MAX_DETECTIONS: '2.5' }, /^MAX_DETECTIONS: must be an integer from 1 to 10000/],
    [{ PORT: '70000' }, /^PORT: must be an integer from 1 to 65535/],
    [{ EXECUTION_PROVIDERS: 'tpu' }, /^EXECUTION_PROVIDERS: must be a comma-separated list of cpu, cuda/],
    [{ EXECUTION_PROVIDERS: 'cpu,cpu' }, /lists a provider twice/],
    [{ MAX_IMAGE_BYTES: '-1' }, /^MAX_IMAGE_BYTES: must be an integer from 1024/],
    [{ MAX_IMAGE_PIXELS: '1e20' }, /^MAX_IMAGE_PIXELS: must be an integer/],
    [{ MODEL_SHA256: 'abc' }, /^MODEL_SHA256: must be 64 hexadecimal characters/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: must be one of/],
    // Linux's nice values end at 19; below 0 would need a privilege the pod does not have.
    [{ OTHER_THREADS_NICE: '20' }, /^OTHER_THREADS_NICE: must be an integer from 0 to 19/],
    [{ OTHER_THREADS_NICE: '-5' }, /^OTHER_THREADS_NICE: must be an integer from 0 to 19/],
  ];
  for (const [env, message] of cases) {
    const full = { MODEL_PATH: '/m.onnx', ...env };
    if (Object.keys(env).length === 0) delete (full as Record<string, string | undefined>).MODEL_PATH;
    t.throws(() => loadConfig(full), message, JSON.stringify(env));
    t.throws(() => loadConfig(full), ConfigError);
  }
});

t.test('cuda,cpu is an ordered preference list', async (t) => {
  t.same(loadConfig({ MODEL_PATH: 'm', EXECUTION_PROVIDERS: 'CUDA, cpu' }).executionProviders, ['cuda', 'cpu']);
});
