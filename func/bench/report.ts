import { quantile } from './floor.js';

/** The variables that change what the bench measures, printed with its table. */
export const PERFORMANCE_SETTINGS = [
  'INFERENCE_WORKERS',
  'INFERENCE_THREADS',
  'INFERENCE_SPINNING',
  'OTHER_THREADS_NICE',
  'IMAGE_THREADS',
  'MAX_BATCH',
] as const;

/** The bench's report: ratios over the rounds as a median with their spread, and the table printed from bench.json. */

export const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** The median of a ratio over the rounds, with its spread: "1.02 (0.98–1.07)". */
export const spread = (xs: number[]): Spread => ({
  median: round(quantile(xs, 0.5), 2),
  min: round(Math.min(...xs), 2),
  max: round(Math.max(...xs), 2),
});

/** `spread` of each list of a record: { bus: [...], photo: [...] } → { bus: Spread, photo: Spread }. */
export const spreadEach = <K extends string | number>(lists: Record<K, number[]>): Record<K, Spread> =>
  Object.fromEntries(Object.entries<number[]>(lists).map(([k, v]) => [k, spread(v)])) as Record<K, Spread>;

const show = (s: Spread): string => `${s.median} (${s.min}–${s.max})`;

/** The table `npm run bench` prints, one row per figure, from the report main.ts assembles. */
export function reportTable(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a report assembled field by field
  r: Record<string, any>,
  run: { rounds: number; perRound: number; requests: number },
): string {
  const rows: [string, string][] = [
    ['machine', r.machine],
    ['model', r.model],
    [
      'settings',
      Object.entries(r.settings as Record<string, string>)
        .map(([k, v]) => `${k}=${v || '(default)'}`)
        .join(' '),
    ],
    ['rounds × samples (median over rounds, min–max)', `${run.rounds} × ${run.perRound}`],
    ['bare session.run p50', `${r.bareP50Ms} ms`],
    ['bus.jpg: end-to-end p50 / its floor', show(r.ratios.busToFloor)],
    ['bus.jpg: floor with the steps it leaves out / floor', show(r.sequenceFloorToFloor.bus)],
    ['bus.jpg: end-to-end p50 / that floor', show(r.ratios.busToSequenceFloor)],
    ['bus.jpg: the pipeline in process / floor', show(r.inProcessToFloor.bus)],
    ['bus.jpg: end-to-end p50 / the pipeline in process', show(r.serverToInProcess.bus)],
    [
      'bus.jpg: those steps, ms',
      Object.entries(r.busStepsMs as Record<string, number>)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ],
    ['12 MP photo: end-to-end p50 / its floor', show(r.ratios.photoToFloor)],
    ['12 MP: overlapped floor with those steps / floor', show(r.sequenceFloorToFloor.photo)],
    ['12 MP: end-to-end p50 / that floor', show(r.ratios.photoToSequenceFloor)],
    ['12 MP: that overlap run here, in process / floor', show(r.sequenceFloorToFloor.photoHere)],
    ['12 MP: that overlap run here with its steps / floor', show(r.sequenceFloorToFloor.photoHereWithSteps)],
    ["12 MP: the server's JPEG encode (strips at once) / one call", show(r.photoAnnotatedEncodeToWhole)],
    ['12 MP: the pipeline in process / floor', show(r.inProcessToFloor.photo)],
    ['12 MP: end-to-end p50 / the pipeline in process', show(r.serverToInProcess.photo)],
    ['12 MP, annotate false: end-to-end / bare', show(r.ratios.photoNoAnnotateToBare)],
    ['12 MP, annotate false: the pipeline in process / bare', show(r.inProcessToFloor.photoNoAnnotate)],
    ['12 MP, annotate false: end-to-end / in process', show(r.serverToInProcess.photoNoAnnotate)],
    ...[1, 2, 4, 8].map((c): [string, string] => [
      `throughput c=${c} / bare`,
      `${r.throughputPerS[c]}/s = ${show(r.throughputRatioToBare[c])}`,
    ]),
    ['server CPU per request at c=4 (bare run)', `${r.cpuMsPerRequestC4} ms (${r.bareCpuMsPerRun} ms)`],
    ['c=4 ratio the CPU allows (cores × 1000 / CPU)', show(r.cpuBoundThroughputRatioC4)],
    [
      'c=4 ratio session.run + codecs CPU allow',
      `${show(r.cpuFloorThroughputRatioC4)} (${r.bareCpuMsPerRun} + ${r.busCodecCpuMs} ms)`,
    ],
    [
      'c=4 ratio those with the steps and HTTP allow',
      `${show(r.stepsFloorThroughputRatioC4)} (+ ${r.busStepsCpuMs} + ${r.roundTripCpuMs} ms)`,
    ],
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
    ...r.throughputSettings.flatMap((t: Record<string, any>): [string, string][] => [
      [`${t.settings}: c=4 / bare`, show(t.c4ToBare)],
      [`${t.settings}: c=4 ratio their CPU allows`, show(t.c4Floor)],
      [`${t.settings}: bus.jpg end-to-end / floor`, show(t.busToFloor)],
      [`${t.settings}: RSS after ${t.requests} requests`, `${t.rssMb} MB (defaults: ${r.rssMb.afterBusyRequests} MB)`],
    ]),
    ['annotate false: floor (bare + reduced decode)', `${r.photoNoAnnotateFloorToBare} × bare`],
    ['annotate false: with its steps in sequence', `${show(r.photoNoAnnotateSequenceFloorToBare)} × bare`],
    ['start → ready / → first reply', `${r.startToReadyMs} / ${r.startToFirstReplyMs} ms`],
    [
      'start → ready, every start, ms',
      Object.entries(r.startToReadyMsByStart as Record<string, number[]>)
        .map(([started, ms]) => `${started === '' ? 'as run' : `with ${started}`}: ${ms.join(', ')}`)
        .join('; '),
    ],
    [`RSS, bus.jpg: first reply → ${run.requests} requests`, `${r.rssMb.firstReply} → ${r.rssMb.afterRequests} MB`],
    ['tracing on / off, bus.jpg p50', show(r.tracingOnToOff)],
    ['runtime node_modules', `${r.runtimeDependenciesMiB} MiB`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v} |`).join('\n') + '\n';
}
