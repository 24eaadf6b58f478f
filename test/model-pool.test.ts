import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { loadModel, type Model } from '../func/detector/core/model.js';
import { modelPool } from '../func/detector/core/model-pool.js';
import { BUS, missing } from './support/expected.js';
import { IMAGES, YOLOV8N } from './support/paths.js';
import { scratchVolumes } from './support/scratch.js';
import { binaryEvent, startServer } from './support/server-process.js';
import { testDetector } from './support/detector.js';
import { warmUpRuns } from '../func/detector/service/service.js';

/** INFERENCE_WORKERS: several sessions, each run to the least busy one. */

t.test('before readiness, a GPU warms up each session and the CPU none', async (t) => {
  t.equal(warmUpRuns('cuda', 2), 2, "CUDA: each session's first run searches cuDNN's algorithms before traffic");
  t.equal(warmUpRuns('cpu', 2), 0, 'CPU: a first run costs about what later ones do; readiness does not wait for one');
});

t.test('concurrent runs are spread over the sessions, and give the same output', async (t) => {
  const counts = [0, 0];
  const models: Model[] = [];
  for (let i = 0; i < 2; i++) {
    const m = await loadModel(YOLOV8N, { providers: ['cpu'], intraOpThreads: 1 });
    t.teardown(() => m.release());
    // The real session, counted.
    models.push({ ...m, run: (input, batch) => (counts[i]!++, m.run(input, batch)) });
  }
  const pool = modelPool(models);
  const [h, w] = pool.info.inputSize;
  const outputs = await Promise.all([0, 1, 2, 3].map(() => pool.run(new Float32Array(3 * h * w).fill(114 / 255), 1)));
  t.same(counts, [2, 2], 'four at once: two each');
  await testDetector(pool, '/nonexistent').warmUp(2);
  t.same(counts, [3, 3], 'warm-up of two runs warms each session');
  t.ok(
    outputs.every(
      (o) => o.data.length === outputs[0]!.data.length && o.data.every((v, i) => v === outputs[0]!.data[i]),
    ),
  );
  t.equal(pool.failure?.(), undefined, 'no failure while every session runs');
  const dead = modelPool([models[0]!, { ...models[1]!, failure: () => new Error('gone') }]);
  t.match(dead.failure?.(), { message: 'gone' }, 'one dead session fails the pool');
});

t.test('the server with two single-threaded sessions answers concurrent requests', async (t) => {
  const { input, output } = await scratchVolumes(t, 'kyolo-pool-');
  const server = await startServer('server', {
    env: { MODEL_PATH: YOLOV8N, INPUT_DIR: input, OUTPUT_DIR: output, INFERENCE_WORKERS: '2', INFERENCE_THREADS: '1' },
  });
  t.teardown(() => server.stop('SIGKILL'));
  const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
  const replies = await Promise.all(
    [1, 2, 3, 4].map((i) => fetch(server.url + '/', binaryEvent(`pool-${i}`, bus, 'image/jpeg'))),
  );
  t.same(
    replies.map((r) => r.status),
    [200, 200, 200, 200],
  );
  for (const r of replies) t.same(missing(((await r.json()) as { detections: never[] }).detections, BUS), []);
});
