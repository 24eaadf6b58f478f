import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { REQUEST_OPTIONS } from '../detector/contract/options.js';
import { Detector } from '../detector/core/detector.js';
import { loadModel, type ModelInfo, type Provider } from '../detector/core/model.js';
import { opsWithoutKernel } from '../detector/core/provider-support.js';
import { OutputStore } from '../detector/core/storage.js';

/** What `knative-yolo inspect` reports about a model file, as printed with --json. */
export interface Inspection {
  file: string;
  bytes: number;
  sha256: string;
  producer: { name: string; version: string; ultralytics: string | undefined };
  irVersion: number;
  opsets: { domain: string; version: number }[];
  input: { name: string; type: string; shape: (number | string)[] };
  output: { name: string; type: string; shape: (number | string)[] };
  layout: ModelInfo['layout'];
  layoutDescription: string;
  task: string | undefined;
  classes: number;
  names: string[];
  inputSize: [number, number];
  stride: number | undefined;
  batch: ModelInfo['batch'];
  quantized: boolean;
  quantizedOps: string[];
  /** Per provider: whether it loads here, and the operators it has no kernel for (they would run on the CPU). */
  providers: { name: Provider; available: boolean; reason?: string; opsOffProvider: string[] }[];
  selfTest?: SelfTest;
}

export interface SelfTest {
  image: string;
  width: number;
  height: number;
  inferenceMs: number;
  totalMs: number;
  detections: { label: string; confidence: number; box: [number, number, number, number] }[];
}

const LAYOUTS: Record<ModelInfo['layout'], string> = {
  v8: 'v8: YOLOv8/11/12, [B, 4+nc, N], cx cy w h then class scores',
  v5: 'v5: YOLOv5, [B, N, 5+nc], cx cy w h objectness then class scores',
  end2end: 'end-to-end: NMS in the graph (nms=True, YOLOv10, YOLO26), [B, K, 6], x1 y1 x2 y2 score class',
};

const QUANTIZED = ['ConvInteger', 'QLinearConv', 'MatMulInteger', 'QLinearMatMul', 'DequantizeLinear'];

/**
 * Loads the model as the service would (so a file the service would refuse is refused here with the same
 * reason), tries each execution provider, and optionally runs one image through the whole pipeline.
 */
export async function inspectModel(file: string, selfTestImage?: string): Promise<Inspection> {
  const model = await loadModel(file, { providers: ['cpu'] });
  try {
    const { info } = model;
    const off = (p: Provider): string[] => opsWithoutKernel(p, info.onnx.opTypes);
    const providers: Inspection['providers'] = [{ name: 'cpu', available: true, opsOffProvider: off('cpu') }];
    try {
      const cuda = await loadModel(file, { providers: ['cuda'], quiet: true });
      await cuda.release();
      providers.push({ name: 'cuda', available: true, opsOffProvider: off('cuda') });
    } catch (err) {
      const reason = (err as Error).message.replace(/^onnxruntime cannot load the model: /, '').split('\n')[0];
      providers.push({ name: 'cuda', available: false, reason: reason ?? 'unavailable', opsOffProvider: off('cuda') });
    }
    const inspection: Inspection = {
      file,
      bytes: info.bytes,
      sha256: info.sha256,
      producer: {
        name: info.onnx.producerName,
        version: info.onnx.producerVersion,
        ultralytics: info.onnx.metadata.get('version'),
      },
      irVersion: info.onnx.irVersion,
      opsets: info.onnx.opsets,
      input: { name: info.inputName, type: info.inputType, shape: info.inputShape },
      output: { name: info.outputName, type: info.outputType, shape: info.outputShape },
      layout: info.layout,
      layoutDescription: LAYOUTS[info.layout],
      task: info.task,
      classes: info.classNames.length,
      names: info.classNames,
      inputSize: info.inputSize,
      stride: info.stride,
      batch: info.batch,
      quantized: info.quantized,
      quantizedOps: info.onnx.opTypes.filter((op) => QUANTIZED.includes(op)),
      providers,
    };
    if (selfTestImage) {
      const detector = new Detector(model, new OutputStore(os.tmpdir()), {
        conf: REQUEST_OPTIONS.conf.default,
        iou: REQUEST_OPTIONS.iou.default,
        maxDetections: REQUEST_OPTIONS.maxDetections.default,
        inputDir: os.tmpdir(),
        maxImageBytes: 512 * 1024 * 1024,
        maxImagePixels: 1_000_000_000,
      });
      await detector.warmUp();
      const bytes = await readFile(selfTestImage);
      const result = await detector.analyse(
        { kind: 'bytes', bytes, contentType: 'application/octet-stream' },
        { annotate: false },
      );
      inspection.selfTest = {
        image: selfTestImage,
        width: result.image.width,
        height: result.image.height,
        inferenceMs: result.timings.inferenceMs,
        totalMs: result.timings.totalMs,
        detections: result.detections.map((d) => ({
          label: d.label,
          confidence: d.confidence,
          box: [d.box.x1, d.box.y1, d.box.x2, d.box.y2],
        })),
      };
    }
    return inspection;
  } finally {
    await model.release();
  }
}

const shape = (s: (number | string)[]): string => `[${s.join(', ')}]`;

export function formatInspection(i: Inspection): string {
  const mib = (i.bytes / 1024 / 1024).toFixed(1);
  const names =
    i.names.length > 12 ? `${i.names.slice(0, 12).join(', ')}, … (${i.names.length - 12} more)` : i.names.join(', ');
  const rows: [string, string][] = [
    ['file', i.file],
    ['size', `${i.bytes} bytes (${mib} MiB)`],
    ['sha256', i.sha256],
    [
      'producer',
      `${i.producer.name} ${i.producer.version}${i.producer.ultralytics ? `, Ultralytics ${i.producer.ultralytics}` : ''}`,
    ],
    ['opsets', `IR ${i.irVersion}; ${i.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ')}`],
    ['input', `${i.input.name} ${i.input.type} ${shape(i.input.shape)}`],
    ['output', `${i.output.name} ${i.output.type} ${shape(i.output.shape)}`],
    ['layout', i.layoutDescription],
    ['task', i.task ?? '(not in metadata)'],
    ['classes', `${i.classes}: ${names}`],
    ['input size', `${i.inputSize[1]}x${i.inputSize[0]} (width x height)`],
    ['stride', i.stride === undefined ? '(not in metadata)' : String(i.stride)],
    ['batch', i.batch === 'dynamic' ? 'dynamic (micro-batching possible)' : 'static (1)'],
    ['quantized', i.quantized ? `yes (${i.quantizedOps.join(', ')})` : 'no'],
    [
      'providers',
      i.providers
        .map(
          (p) =>
            (p.available ? `${p.name}: available` : `${p.name}: unavailable (${p.reason})`) +
            (p.opsOffProvider.length ? `, but ${p.opsOffProvider.join(', ')} would run on the CPU` : ''),
        )
        .join('; '),
    ],
  ];
  if (i.selfTest) {
    const t = i.selfTest;
    rows.push([
      'self-test',
      `${t.image} (${t.width}x${t.height}): ${t.detections.length} detections, inference ${t.inferenceMs} ms, total ${t.totalMs} ms`,
    ]);
    for (const d of t.detections)
      rows.push(['', `${d.label} ${d.confidence.toFixed(2)} [${d.box.map((v) => Math.round(v)).join(', ')}]`]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
