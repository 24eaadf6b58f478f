import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DetectionError } from '../../shared/errors.js';
import type { Log } from '../../shared/logger.js';
import { batchedModel } from '../core/batched-model.js';
import type { Detector } from '../core/detector.js';
import type { Model, ModelInfo } from '../core/model.js';
import { OutputStore } from '../core/storage.js';
import { modelPool } from '../core/model-pool.js';
import { loadModelInWorker } from '../core/worker-model.js';
import { detectorDefaults, type Config } from './config.js';
import { batchSize, modelInfo, modelLoadSeconds } from './metrics.js';
import { lowerOtherThreads, REFUSED } from './thread-priority.js';

export type Readiness = { ready: true } | { ready: false; reason: string };

/**
 * How many warm-up runs to make before readiness: one per session on a GPU, none on the CPU. On CUDA the first
 * run searches cuDNN's convolution algorithms (onnxruntime's CUDA provider defaults cudnn_conv_algo_search to
 * EXHAUSTIVE, which tries every algorithm on a graph's first execution: its docs), which belongs before traffic.
 * On the CPU the first run costs about what the next one does (a first bus.jpg request 35 ms slower,
 * docs/performance.md), and a warm-up would delay readiness, and so a cold pod's first reply, by a whole inference.
 */
export function warmUpRuns(provider: string, sessions: number): number {
  return provider === 'cpu' ? 0 : sessions;
}

/**
 * The detector's lifecycle, shared by every adapter: load and verify the model, warm it up on a GPU, sweep temp
 * files a killed process left behind, then report ready. A load failure is kept as the reason readiness gives, so
 * the pod stays unready with a message instead of crash-looping with a stack trace.
 */
export class DetectionService {
  private model: Model | undefined;
  private current: Detector | undefined;
  private state: Readiness = { ready: false, reason: 'The model is loading.' };
  private loading: Promise<void> | undefined;
  private inflight = 0;
  private cold = true;
  private idle: (() => void)[] = [];
  readonly store: OutputStore;
  /** The `source` of reply events: stable per service, not per pod. */
  readonly eventSource: string;

  constructor(
    readonly config: Config,
    readonly log: Log,
    env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    this.store = new OutputStore(config.outputDir);
    this.eventSource = `/knative-yolo/${env.K_SERVICE ?? hostname()}`;
  }

  /** True for the first request after start (the one a scale-from-zero waits for), false after. */
  takeCold(): boolean {
    const cold = this.cold;
    this.cold = false;
    return cold;
  }

  /** The model being served, once loaded. */
  modelInfo(): ModelInfo | undefined {
    return this.model?.info;
  }

  readiness(): Readiness {
    const dead = this.deadReason();
    return dead ? { ready: false, reason: dead } : this.state;
  }

  /**
   * Alive unless the model can no longer run (its worker thread died): nothing in this process can bring it back,
   * so liveness fails and the kubelet restarts the container, instead of every request failing on a ready pod.
   */
  liveness(): Readiness {
    const dead = this.deadReason();
    return dead ? { ready: false, reason: dead } : { ready: true };
  }

  private deadReason(): string | undefined {
    const failure = this.model?.failure?.();
    return failure && `The inference worker died (${failure.message}); this container must be restarted.`;
  }

  /** The ready detector, or MODEL_NOT_READY (a 503, so a Broker retries once the pod is up). */
  detector(): Detector {
    const dead = this.deadReason();
    if (dead) throw new DetectionError('MODEL_UNAVAILABLE', dead);
    if (!this.current) {
      throw new DetectionError(
        'MODEL_NOT_READY',
        this.state.ready ? 'The model is not loaded.' : `The model is not ready: ${this.state.reason}`,
      );
    }
    return this.current;
  }

  /** Starts loading once; later calls return the same promise. Never rejects: failures become readiness. */
  start(): Promise<void> {
    this.loading ??= this.load();
    return this.loading;
  }

  private async load(): Promise<void> {
    const t0 = performance.now();
    const { config, log } = this;
    try {
      // The session runs in a worker thread: inference blocks its thread, and the main one must stay free.
      // The worker starts first; the image stack (sharp, ~0.2 s to load) is imported while it loads the model.
      const options = {
        name: config.modelName,
        providers: config.executionProviders,
        expectedSha256: config.modelSha256,
        intraOpThreads: config.inferenceThreads || undefined,
        spinning: config.inferenceSpinning,
        onFallback: (from: string, to: string, reason: string) =>
          log.warn({ from, to, reason }, `execution provider ${from} is unavailable; falling back to ${to}`),
        onFailure: (err: Error) =>
          log.error({ err: err.message }, 'an inference worker died: readiness and liveness now fail'),
      };
      const [workers, { Detector }, { configureCodecs }] = await Promise.all([
        Promise.all(
          Array.from({ length: config.inferenceWorkers }, () => loadModelInWorker(config.modelPath, options)),
        ),
        import('../core/detector.js'),
        import('../core/decode.js'),
      ]);
      const loaded = modelPool(workers);
      configureCodecs(config.imageThreads);
      const model = this.batching(loaded);
      this.model = model;
      const detector = new Detector(model, this.store, {
        ...detectorDefaults(config),
        // A batch in each worker, one being prepared, one being annotated: enough to keep the model busy.
        // More would only hold more decoded images in memory and take CPU from inference.
        maxConcurrentImages: config.maxBatch * (config.inferenceWorkers + 2),
        // The images that hold an input tensor: a batch in each worker and one being prepared (the one being
        // annotated has handed its tensor back).
        keptTensors: config.maxBatch * (config.inferenceWorkers + 1),
      });
      await detector.warmUp(warmUpRuns(model.info.provider, config.inferenceWorkers));
      await this.warnIfModelWritable();
      const swept = await this.store.sweepTempFiles();
      if (swept > 0) log.warn({ swept }, 'removed temp files left by an interrupted write');
      const seconds = (performance.now() - t0) / 1000;
      modelLoadSeconds.set(seconds);
      const { info } = model;
      modelInfo.set(
        {
          name: info.name,
          sha256: info.sha256,
          provider: info.provider,
          fallback: String(info.provider !== config.executionProviders[0]),
          ops_off_provider: info.opsOffProvider.join(','),
        },
        1,
      );
      this.current = detector;
      this.state = { ready: true };
      // Once ready, not before: the load's last steps run on this thread, and lowered they would wait on anything
      // else the node runs. libvips starts its workers at the first image, from threads lowered here.
      const lowered = lowerOtherThreads(loaded.threads ?? [], config.otherThreadsNice);
      if (typeof lowered === 'string') {
        const level = lowered.startsWith(REFUSED) ? 'warn' : 'debug';
        log[level]({ reason: lowered }, 'every thread keeps the same priority: inference shares the cores equally');
      } else log.debug({ lowered, nice: config.otherThreadsNice, inference: loaded.threads }, 'other threads lowered');
      log.info(
        {
          model: info.name,
          sha256: info.sha256,
          layout: info.layout,
          inputSize: info.inputSize,
          classes: info.classNames.length,
          provider: info.provider,
          opsOffProvider: info.opsOffProvider,
          loadSeconds: Math.round(seconds * 1000) / 1000,
        },
        'model ready',
      );
      if (info.opsOffProvider.length > 0) {
        log.warn(
          { provider: info.provider, ops: info.opsOffProvider },
          `${info.opsOffProvider.join(', ')} cannot run on ${info.provider}: those nodes run on the CPU, with copies ` +
            'to and from the device, slower than the CPU alone; serve a float model on this provider',
        );
      }
    } catch (err) {
      const reason = (err as Error).message;
      this.state = { ready: false, reason };
      log.error({ modelPath: config.modelPath }, `model failed to load: ${reason}`);
    }
  }

  /**
   * The model volume should be mounted read-only; `func deploy` cannot (it never marks a mount read-only, and
   * Knative refuses a read-only claim on a writable mount). The weights in memory are the verified ones whatever
   * happens to the file, so this is a warning, not a refusal; MODEL_SHA256 catches a changed file at the next start.
   */
  private async warnIfModelWritable(): Promise<void> {
    const dir = path.dirname(path.resolve(this.config.modelPath));
    const writable = await access(dir, constants.W_OK).then(
      () => true,
      () => false,
    );
    if (writable) {
      this.log.warn(
        { modelDir: dir, pinned: this.config.modelSha256 !== undefined },
        'the model volume is writable by this process; mount it read-only where the platform allows, and pin ' +
          'the model with MODEL_SHA256',
      );
    }
  }

  /** Wraps the model in a micro-batcher when MAX_BATCH asks for it and the model's batch axis allows it. */
  private batching(model: Model): Model {
    const { maxBatch, maxBatchDelayMs } = this.config;
    if (maxBatch <= 1) return model;
    if (model.info.batch !== 'dynamic') {
      this.log.warn(
        { maxBatch, model: model.info.name },
        'MAX_BATCH is ignored: the model has a static batch axis, so each image runs alone',
      );
      return model;
    }
    return batchedModel(model, { maxBatch, maxDelayMs: maxBatchDelayMs }, (size) => batchSize.observe(size));
  }

  /** Counts a request as in flight until `work` settles, so shutdown can wait for it. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.inflight++;
    try {
      return await work();
    } finally {
      this.inflight--;
      if (this.inflight === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  inflightCount(): number {
    return this.inflight;
  }

  /**
   * Turns readiness off and waits for in-flight detections to finish, at most `graceMs`. Requests already
   * accepted still run: refusing new ones is the HTTP server's job as it closes. Returns how many were still
   * running when the grace period ran out.
   */
  async drain(graceMs: number): Promise<number> {
    this.state = { ready: false, reason: 'The service is shutting down.' };
    if (this.inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.idle.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.inflight;
  }

  async close(): Promise<void> {
    await this.loading;
    this.current = undefined;
    this.state = { ready: false, reason: 'The service is shutting down.' };
    await this.model?.release();
    this.model = undefined;
  }
}
