import inspector from 'node:inspector/promises';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { buildApp } from '../func/detector/server/app.js';
import { loadConfig } from '../func/detector/service/config.js';
import { DetectionService } from '../func/detector/service/service.js';
import { IMAGES, YOLOV8N } from './support/paths.js';
import { scratchVolumes } from './support/scratch.js';
import { binaryEvent } from './support/server-process.js';

/**
 * The inference worker thread dies after the model is ready (in a pod: out of memory, a native fault). Nothing in
 * the process can bring it back, so readiness and liveness must both fail and requests must say why: otherwise
 * Knative keeps routing to a pod that fails every request and the kubelet never restarts it. The worker is killed
 * from outside the code under test, through the inspector's NodeWorker domain, as a debugger would.
 */

/** Kills one inference worker (the first the inspector reports); resolves with how many there were. */
async function killWorker(): Promise<number> {
  const session = new inspector.Session();
  session.connect();
  const ids: string[] = [];
  session.on('NodeWorker.attachedToWorker', (m) => {
    const { sessionId, workerInfo } = m.params as { sessionId: string; workerInfo: { url: string } };
    if (workerInfo.url.includes('inference-worker')) ids.push(sessionId);
  });
  await session.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
  await new Promise((r) => setTimeout(r, 200));
  const message = JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression: 'process.exit(7)' } });
  if (ids[0]) await session.post('NodeWorker.sendMessageToWorker', { sessionId: ids[0], message });
  session.disconnect();
  return ids.length;
}

for (const workers of [1, 2])
  t.test(
    `${workers} worker(s): one dead inference worker turns readiness and liveness off, and requests say why`,
    async (t) => {
      const { input, output } = await scratchVolumes(t, 'kyolo-worker-death-');
      const config = loadConfig({
        MODEL_PATH: YOLOV8N,
        INPUT_DIR: input,
        OUTPUT_DIR: output,
        INFERENCE_WORKERS: String(workers),
      });
      const log = pino({ level: 'silent' });
      const service = new DetectionService(config, log);
      await service.start();
      const app = await buildApp(service, log);
      t.teardown(async () => {
        await app.close();
        await service.close();
      });
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      const bus = await readFile(path.join(IMAGES, 'bus.jpg'));
      const get = async (p: string) => {
        const res = await fetch(url + p);
        return { status: res.status, body: (await res.json()) as { code?: string; error?: string } };
      };

      t.equal((await fetch(url + '/', binaryEvent('before', bus, 'image/jpeg'))).status, 200, 'detects while alive');
      t.equal((await get('/health/readiness')).status, 200);
      t.equal((await get('/health/liveness')).status, 200);

      t.equal(await killWorker(), workers, `one of ${workers} inference workers, killed`);
      for (let i = 0; i < 50 && service.liveness().ready; i++) await new Promise((r) => setTimeout(r, 20));

      const ready = await get('/health/readiness');
      t.equal(ready.status, 503, 'readiness fails');
      t.match(ready.body, { code: 'MODEL_UNAVAILABLE', error: /inference worker died/ });
      const live = await get('/health/liveness');
      t.equal(live.status, 503, 'liveness fails, so the kubelet restarts the container');
      t.match(live.body, { code: 'MODEL_UNAVAILABLE' });
      const res = await fetch(url + '/', binaryEvent('after', bus, 'image/jpeg'));
      t.equal(res.status, 503, 'a request is a retryable 503, not a 500');
      t.match(await res.json(), { code: 'MODEL_UNAVAILABLE', error: /must be restarted/ });
    },
  );
