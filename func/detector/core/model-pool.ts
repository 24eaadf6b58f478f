import type { Model } from './model.js';

/**
 * Several sessions of one model, each in its own worker thread, each run given to the least busy. On a machine
 * with few cores, two single-threaded sessions get more images through than one session using every core:
 * onnxruntime's intra-op threads do not scale perfectly, and a second session keeps the cores busy while the
 * first waits (INFERENCE_WORKERS and INFERENCE_THREADS; docs/performance.md has the measurements).
 */
export function modelPool(models: readonly Model[]): Model {
  if (models.length === 0) throw new Error('a model pool needs at least one model');
  if (models.length === 1) return models[0]!;
  const busy = models.map(() => 0);
  return {
    info: models[0]!.info,
    threads: models.flatMap((m) => m.threads ?? []),
    async run(input, batch) {
      let pick = 0;
      for (let i = 1; i < models.length; i++) if (busy[i]! < busy[pick]!) pick = i;
      busy[pick]!++;
      try {
        return await models[pick]!.run(input, batch);
      } finally {
        busy[pick]!--;
      }
    },
    async release() {
      await Promise.all(models.map((m) => m.release()));
    },
    // One dead worker is enough: its share of requests would fail, so the pod must be replaced.
    failure: () => models.map((m) => m.failure?.()).find((f) => f !== undefined),
  };
}
