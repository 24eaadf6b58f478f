/**
 * `npm run bench`: the cost of the service around the model, measured side by side in one run, on bus.jpg and on
 * a 12 MP photo made from it (upscaled to a phone camera's 4032x3024):
 *  - bare session.run, and each image's floor: bare + a full-size decode + a full-size JPEG encode;
 *  - the container server, started as the image starts it, with path CloudEvents: end-to-end latency at
 *    concurrency 1 (annotated, and the photo with annotate: false), throughput at 1/2/4/8, the server's CPU time
 *    per request, start → ready and → first reply, RSS after start and after BENCH_REQUESTS requests;
 *  - the service's own pipeline (Detector.detect) run in this process, without HTTP or the inference worker;
 *  - the same server with tracing exporting to a local OTLP sink, against tracing off;
 *  - the image's runtime node_modules.
 * The machine is shared and its speed drifts, so the ratios are measured in BENCH_ROUNDS rounds (5) of
 * BENCH_SAMPLES (12) each, every figure of a ratio back to back, and reported as the median with the spread.
 * Prints a table and writes bench-results/bench.json. Settings: BENCH_MODEL, BENCH_ROUNDS, BENCH_SAMPLES,
 * BENCH_REQUESTS (1000), and the server's own variables (INFERENCE_THREADS, INFERENCE_SPINNING, MAX_BATCH, …).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import sharp from '../detector/core/sharp-cjs.js';
import { busySettings } from './busy-settings.js';
import {
  bare,
  codecs,
  floorMs,
  inProcess,
  overlapped,
  quantile,
  sequenceSteps,
  throughputBoundOverBare,
} from './floor.js';
import { PERFORMANCE_SETTINGS, reportTable, round, spread, spreadEach } from './report.js';
import { runtimeDependencyBytes } from './runtime-size.js';
import { cpuMs, detect, load, roundTripCpuMs, roundTripMs, rssMb, startServer, type BenchServer } from './server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MODEL = process.env.BENCH_MODEL ?? path.join(ROOT, '..', 'shared', 'models', 'yolov8n-coco-int8-640.onnx');
const BUS = path.join(ROOT, '..', 'shared', 'images', 'bus.jpg');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PER_ROUND = Number(process.env.BENCH_SAMPLES ?? 12);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000);
const say = (s: string): boolean => process.stderr.write(s + '\n');

/** A local OTLP/HTTP sink: accepts every export, so tracing costs what it costs with a healthy collector. */
async function otlpSink(): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => server.close() };
}

const median = (xs: number[]): number => quantile(xs, 0.5);

async function main(): Promise<void> {
  const volume = await mkdtemp(path.join(os.tmpdir(), 'knative-yolo-bench-'));
  await mkdir(path.join(volume, 'out'));
  await copyFile(BUS, path.join(volume, 'bus.jpg'));
  // A phone photo's size, JPEG and colour profile: bus.jpg (an iPhone photo, Display P3) upscaled to 4032x3024
  // (4:3, cropped), quality 90, its profile kept as a phone keeps it.
  const photo = await sharp(BUS).resize(4032, 3024, { fit: 'cover' }).keepIccProfile().jpeg({ quality: 90 }).toBuffer();
  await writeFile(path.join(volume, 'photo-12mp.jpg'), photo);
  const bus = await readFile(BUS);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a report assembled field by field
  const r: Record<string, any> = {
    model: path.basename(MODEL),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    rounds: ROUNDS,
    samplesPerRound: PER_ROUND,
    settings: Object.fromEntries(PERFORMANCE_SETTINGS.map((k) => [k, process.env[k] ?? ''])),
  };
  const sink = await otlpSink();
  const servers: BenchServer[] = [];
  try {
    say('starting the servers (tracing off, and on to a local OTLP sink)…');
    const server = await startServer(ROOT, MODEL, volume);
    servers.push(server);
    await detect(server.url, 'bus.jpg');
    r.startToReadyMs = round(server.readyMs);
    r.startToFirstReplyMs = round(performance.now() - server.startedAt);
    const traced = await startServer(ROOT, MODEL, volume, { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url }, 'tracing on');
    servers.push(traced);
    for (const s of servers) {
      await load(s.url, 'bus.jpg', 10, 1); // JIT and allocator warm-up
      await load(s.url, 'photo-12mp.jpg', 3, 1);
    }
    const ratios = {
      busToFloor: [] as number[],
      photoToFloor: [] as number[],
      photoNoAnnotateToBare: [] as number[],
      busToSequenceFloor: [] as number[],
      photoToSequenceFloor: [] as number[],
    };
    const sequenceFloorToFloor = {
      bus: [] as number[],
      photo: [] as number[],
      photoHere: [] as number[],
      photoHereWithSteps: [] as number[],
    };
    // The service's pipeline run in this process (floor.ts inProcess), over the floor (over bare for annotate:
    // false), and the server's end-to-end over it.
    const inProcessToFloor = { bus: [] as number[], photo: [] as number[], photoNoAnnotate: [] as number[] };
    const serverToInProcess = { bus: [] as number[], photo: [] as number[], photoNoAnnotate: [] as number[] };
    const noAnnotateSequenceToBare: number[] = [];
    const stepsMs: Record<string, number>[] = [];
    const tracingOnToOff: number[] = [];
    const bareP50: number[] = [];
    const bareCpu: number[] = [];
    const photoReduced: number[] = [];
    const photoEncode: number[] = [];
    const busCpu: number[] = [];
    const busStepsCpu: number[] = [];
    for (let round_ = 1; round_ <= ROUNDS; round_++) {
      say(`round ${round_} of ${ROUNDS}…`);
      const b = await bare(MODEL, bus, PER_ROUND);
      const busCodecs = await codecs(bus, PER_ROUND);
      const photoCodecs = await codecs(photo, Math.ceil(PER_ROUND / 2));
      const e2e = async (s: BenchServer, file: string, annotate = true): Promise<number> =>
        median((await load(s.url, file, PER_ROUND, 1, annotate)).latencies);
      const { ms: busSteps, cpuMs: busStepsCpuMs } = await sequenceSteps(bus, b, PER_ROUND);
      const { ms: photoSteps } = await sequenceSteps(photo, b, Math.ceil(PER_ROUND / 2));
      const http = await roundTripMs(server.url, PER_ROUND);
      const busHere = await inProcess(MODEL, volume, 'bus.jpg', PER_ROUND);
      const photoOverlap = await overlapped(MODEL, photo, Math.ceil(PER_ROUND / 2));
      const photoHere = await inProcess(MODEL, volume, 'photo-12mp.jpg', Math.ceil(PER_ROUND / 2));
      const photoBareHere = await inProcess(MODEL, volume, 'photo-12mp.jpg', Math.ceil(PER_ROUND / 2), false);
      const busE2e = await e2e(server, 'bus.jpg');
      const busTraced = await e2e(traced, 'bus.jpg');
      const photoE2e = await e2e(server, 'photo-12mp.jpg');
      const photoBare = await e2e(server, 'photo-12mp.jpg', false);
      bareP50.push(b.p50);
      bareCpu.push(b.cpuMsPerRun);
      busCpu.push(busCodecs.cpuMs);
      busStepsCpu.push(busStepsCpuMs);
      photoReduced.push(photoCodecs.reducedDecodeP50 / b.p50);
      photoEncode.push(photoCodecs.annotatedEncodeP50 / photoCodecs.encodeP50);
      const busFloor = floorMs(b.p50, busCodecs);
      const photoFloor = floorMs(b.p50, photoCodecs);
      ratios.busToFloor.push(busE2e / busFloor);
      ratios.photoToFloor.push(photoE2e / photoFloor);
      // The floor with the steps it leaves out, for one image on an idle machine. bus.jpg: all in sequence. The
      // photo: its full-size decode beside the reduced decode and inference, as if each had a core to itself.
      const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, x) => a + x, 0);
      const busSequence = busFloor + sum(busSteps) + http;
      const photoSequence =
        Math.max(photoCodecs.reducedDecodeP50 + photoSteps.fill + b.p50 + photoSteps.nms, photoCodecs.decodeP50) +
        photoSteps.header +
        photoSteps.draw +
        photoCodecs.annotatedEncodeP50 +
        photoSteps.write +
        http;
      ratios.busToSequenceFloor.push(busE2e / busSequence);
      ratios.photoToSequenceFloor.push(photoE2e / photoSequence);
      sequenceFloorToFloor.bus.push(busSequence / busFloor);
      sequenceFloorToFloor.photo.push(photoSequence / photoFloor);
      sequenceFloorToFloor.photoHere.push(photoOverlap / photoFloor);
      // That overlap as measured here, with the steps no overlap can hide: the header before it, NMS, drawing and
      // the writes after it (each needs the one before), and HTTP.
      sequenceFloorToFloor.photoHereWithSteps.push(
        (photoOverlap + photoSteps.header + photoSteps.nms + photoSteps.draw + photoSteps.write + http) / photoFloor,
      );
      inProcessToFloor.bus.push(busHere / busFloor);
      inProcessToFloor.photo.push(photoHere / photoFloor);
      inProcessToFloor.photoNoAnnotate.push(photoBareHere / b.p50);
      serverToInProcess.bus.push(busE2e / busHere);
      serverToInProcess.photo.push(photoE2e / photoHere);
      serverToInProcess.photoNoAnnotate.push(photoBare / photoBareHere);
      // annotate: false in sequence: header, reduced decode, tensor, inference, NMS and HTTP (its one small write
      // left out, so that this stays a floor).
      const { header, fill, nms } = photoSteps;
      noAnnotateSequenceToBare.push((header + photoCodecs.reducedDecodeP50 + fill + b.p50 + nms + http) / b.p50);
      stepsMs.push({ ...busSteps, http });
      ratios.photoNoAnnotateToBare.push(photoBare / b.p50);
      tracingOnToOff.push(busTraced / busE2e);
      r[`round${round_}Ms`] = {
        bare: round(b.p50),
        busFloor: round(busFloor),
        busSequenceFloor: round(busSequence),
        busE2e: round(busE2e),
        busInProcess: round(busHere),
        photoFloor: round(photoFloor),
        photoSequenceFloor: round(photoSequence),
        photoE2e: round(photoE2e),
        photoInProcess: round(photoHere),
        photoNoAnnotate: round(photoBare),
        photoNoAnnotateInProcess: round(photoBareHere),
        busTracingOn: round(busTraced),
      };
    }
    r.bareP50Ms = round(median(bareP50));
    r.bareCpuMsPerRun = round(median(bareCpu));
    // The least annotate: false can cost: bare + the photo's decode at the model's size, nothing overlapping it.
    r.photoNoAnnotateFloorToBare = round(1 + median(photoReduced), 2);
    r.photoAnnotatedEncodeToWhole = spread(photoEncode);
    r.ratios = spreadEach(ratios);
    r.sequenceFloorToFloor = spreadEach(sequenceFloorToFloor);
    r.photoNoAnnotateSequenceFloorToBare = spread(noAnnotateSequenceToBare);
    r.inProcessToFloor = spreadEach(inProcessToFloor);
    r.serverToInProcess = spreadEach(serverToInProcess);
    // bus.jpg's steps outside the floor, median over the rounds.
    r.busStepsMs = Object.fromEntries(
      Object.keys(stepsMs[0]!).map((k) => [k, round(median(stepsMs.map((x) => x[k]!)), 2)]),
    );
    r.busCodecCpuMs = round(median(busCpu));
    r.busStepsCpuMs = round(median(busStepsCpu));
    r.roundTripCpuMs = round(await roundTripCpuMs(server.url, server.pid), 2);
    // For the throughput bounds: the least CPU a bus.jpg request needs besides its run.
    const besidesRunCpuMs = r.busCodecCpuMs + r.busStepsCpuMs + r.roundTripCpuMs;
    r.tracingOnToOff = spread(tracingOnToOff);
    await traced.stop();

    // Throughput in rounds too, each concurrency right after a bare run, so both see the same machine.
    const perS: Record<number, number[]> = { 1: [], 2: [], 4: [], 8: [] };
    const toBare: Record<number, number[]> = { 1: [], 2: [], 4: [], 8: [] };
    const c4 = {
      cpuMs: [] as number[],
      cpuBound: [] as number[],
      cpuFloor: [] as number[],
      stepsFloor: [] as number[],
    };
    for (let round_ = 1; round_ <= Math.min(ROUNDS, 3); round_++) {
      for (const c of [1, 2, 4, 8]) {
        say(`throughput at concurrency ${c}, round ${round_}…`);
        const b = await bare(MODEL, bus, PER_ROUND);
        const cpu0 = await cpuMs(server.pid);
        const run = await load(server.url, 'bus.jpg', Math.max(PER_ROUND * 2, c * 12), c);
        const cpu = (await cpuMs(server.pid)) - cpu0;
        perS[c]!.push(run.latencies.length / run.seconds);
        toBare[c]!.push(run.latencies.length / run.seconds / (1000 / b.p50));
        if (c === 4) {
          c4.cpuMs.push(cpu / run.latencies.length);
          // With every core busy, throughput cannot pass cores × 1000 / CPU per request; nor, whatever the server
          // around them, cores × 1000 / (session.run's CPU + the codecs' CPU), nor with the CPU of the steps every
          // request takes besides and of an HTTP round trip.
          c4.cpuBound.push(throughputBoundOverBare(cpu / run.latencies.length, b.p50));
          c4.cpuFloor.push(throughputBoundOverBare(b.cpuMsPerRun + r.busCodecCpuMs, b.p50));
          c4.stepsFloor.push(throughputBoundOverBare(b.cpuMsPerRun + besidesRunCpuMs, b.p50));
        }
      }
    }
    r.throughputPerS = Object.fromEntries(Object.entries(perS).map(([c, v]) => [c, round(median(v), 2)]));
    r.throughputRatioToBare = spreadEach(toBare);
    r.cpuMsPerRequestC4 = round(median(c4.cpuMs));
    r.cpuBoundThroughputRatioC4 = spread(c4.cpuBound);
    r.cpuFloorThroughputRatioC4 = spread(c4.cpuFloor);
    r.stepsFloorThroughputRatioC4 = spread(c4.stepsFloor);
    await server.stop();

    // The settings docs/performance.md gives for pods that are always busy, each on a server of its own.
    const busy = await busySettings(
      { root: ROOT, model: MODEL, volume, bus, rounds: Math.min(ROUNDS, 3), perRound: PER_ROUND, besidesRunCpuMs, say },
      servers,
    );
    r.throughputSettings = busy.settings;

    // Memory as a bus.jpg workload leaves it, on a server of its own: the 12 MP photos above leave glibc's arenas
    // larger, which says nothing about a steady stream of ordinary images.
    say(`${REQUESTS} requests for memory…`);
    const fresh = await startServer(ROOT, MODEL, volume);
    servers.push(fresh);
    await detect(fresh.url, 'bus.jpg');
    const before = await rssMb(fresh.url);
    // Past as many requests as the throughput settings' servers had, for their RSS to compare with.
    const busyRequests = Math.min(busy.requests, REQUESTS);
    await load(fresh.url, 'bus.jpg', busyRequests, 4);
    const atBusyRequests = await rssMb(fresh.url);
    await load(fresh.url, 'bus.jpg', REQUESTS - busyRequests, 4);
    r.rssMb = {
      firstReply: round(before),
      afterRequests: round(await rssMb(fresh.url)),
      requests: REQUESTS,
      afterBusyRequests: round(atBusyRequests),
      busyRequests,
    };
    // Each start by what it was started with: a setting that loads two sessions, or the tracing SDK, starts with
    // more to do than the run's own settings, which the target is about.
    const byStart: Record<string, number[]> = {};
    for (const s of servers) (byStart[s.started] ??= []).push(round(s.readyMs));
    r.startToReadyMsByStart = byStart;

    say('runtime dependencies…');
    r.runtimeDependenciesMiB = round(runtimeDependencyBytes(ROOT, os.tmpdir()) / 2 ** 20);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    sink.close();
    await rm(volume, { recursive: true, force: true });
  }
  process.stdout.write(reportTable(r, { rounds: ROUNDS, perRound: PER_ROUND, requests: REQUESTS }));
  await mkdir(path.join(ROOT, 'bench-results'), { recursive: true });
  await writeFile(path.join(ROOT, 'bench-results', 'bench.json'), JSON.stringify(r, null, 2) + '\n');
  say('wrote bench-results/bench.json');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
