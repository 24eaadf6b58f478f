import { bare, codecs, floorMs, quantile, throughputBoundOverBare } from './floor.js';
import { round, spread, type Spread } from './report.js';
import { load, rssMb, settingName, startServer, type BenchServer } from './server.js';

/**
 * The settings docs/performance.md gives for pods that are always busy: two sessions, so that one runs while the
 * other's threads wait on each other; single-threaded (the least CPU a run costs) or two-threaded (a lone request
 * runs as fast as with the defaults). Beside them the defaults with every thread at one priority. Each on a server
 * of its own, in rounds, each right after a bare run.
 */
const SETTINGS: { env: Record<string, string>; threads?: number }[] = [
  { env: { INFERENCE_WORKERS: '2', INFERENCE_THREADS: '1' }, threads: 1 },
  { env: { INFERENCE_WORKERS: '2' } },
  // The defaults but with every thread at one priority, as before OTHER_THREADS_NICE: what lowering the others buys.
  { env: { OTHER_THREADS_NICE: '0' } },
];

export interface BusySetting {
  settings: string;
  c4ToBare: Spread;
  busToFloor: Spread;
  /** What their sessions' CPU allows with the rest of a request's CPU (cores × 1000 / CPU, over bare throughput). */
  c4Floor: Spread;
  /** After its rounds, for the defaults' after as many requests (main.ts): a second session's memory. */
  rssMb: number;
  requests: number;
}

export interface BusyContext {
  root: string;
  model: string;
  volume: string;
  bus: Buffer;
  rounds: number;
  perRound: number;
  /** The least CPU a bus.jpg request costs besides session.run: codecs, steps, an HTTP round trip. */
  besidesRunCpuMs: number;
  say: (s: string) => void;
}

/** Measures each setting; `servers` collects the servers started, for the caller to stop on failure. */
export async function busySettings(
  ctx: BusyContext,
  servers: BenchServer[],
): Promise<{ settings: BusySetting[]; requests: number }> {
  const settings: BusySetting[] = [];
  for (const setting of SETTINGS) {
    const name = settingName(setting.env);
    ctx.say(`throughput settings (${name})…`);
    const busy = await startServer(ctx.root, ctx.model, ctx.volume, setting.env);
    servers.push(busy);
    await load(busy.url, 'bus.jpg', 20, 4);
    let requests = 20;
    const c4: number[] = [];
    const c1: number[] = [];
    const floor: number[] = [];
    for (let round_ = 1; round_ <= ctx.rounds; round_++) {
      const b = await bare(ctx.model, ctx.bus, ctx.perRound);
      const busCodecs = await codecs(ctx.bus, ctx.perRound);
      const run = await load(busy.url, 'bus.jpg', Math.max(ctx.perRound * 2, 48), 4);
      c4.push(run.latencies.length / run.seconds / (1000 / b.p50));
      // A single-threaded run costs less CPU than the two-threaded bare run.
      const own = setting.threads ? await bare(ctx.model, ctx.bus, ctx.perRound, setting.threads) : b;
      floor.push(throughputBoundOverBare(own.cpuMsPerRun + ctx.besidesRunCpuMs, b.p50));
      const lone = await load(busy.url, 'bus.jpg', ctx.perRound, 1);
      c1.push(quantile(lone.latencies, 0.5) / floorMs(b.p50, busCodecs));
      requests += run.latencies.length + lone.latencies.length;
    }
    settings.push({
      settings: name,
      c4ToBare: spread(c4),
      busToFloor: spread(c1),
      c4Floor: spread(floor),
      rssMb: round(await rssMb(busy.url)),
      requests,
    });
    await busy.stop();
  }
  return { settings, requests: Math.max(...settings.map((s) => s.requests)) };
}
