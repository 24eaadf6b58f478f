import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { replyMessage } from '../../func/detector/contract/reply.js';
import type { DetectionRecord } from '../../func/shared/record.js';
import { loadModel } from '../../func/detector/core/model.js';
import { IMAGES, YOLOV8N } from './paths.js';
import { testDetector } from './detector.js';

/**
 * Completed-detection events as the detector really emits them: records from the real model on real images,
 * formatted by the same reply code the servers use. Variants change only the request id and the time.
 */
let cache: Promise<DetectionRecord[]> | undefined;

export function realRecords(): Promise<DetectionRecord[]> {
  cache ??= (async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'kyolo-events-'));
    const model = await loadModel(YOLOV8N, { providers: ['cpu'] });
    const detector = testDetector(model, out, {
      inputDir: path.dirname(IMAGES),
      maxImageBytes: 50e6,
      maxImagePixels: 50e6,
    });
    const files = [
      'images/bus.jpg',
      'images/zidane.jpg',
      'datasets/coco128-train/images/000000000009.jpg',
      'datasets/coco128-train/images/000000000025.jpg',
    ];
    const records: DetectionRecord[] = [];
    for (const f of files) {
      const { record } = await detector.detect({
        requestId: path.basename(f),
        requestSource: '/tests/logging',
        time: new Date('2026-01-01T00:00:00Z'),
        input: { kind: 'path', path: f },
        options: { annotate: false },
      });
      records.push(record);
    }
    await model.release();
    await rm(out, { recursive: true, force: true });
    return records;
  })();
  return cache;
}

export interface EventMessage {
  id: string;
  headers: Record<string, string>;
  body: string;
  record: DetectionRecord;
}

/** The reply event for `record` as request number `n`, dated `time`. */
export function completedEvent(record: DetectionRecord, n: number, time: Date): EventMessage {
  const variant: DetectionRecord = { ...record, requestId: `${record.requestId}#${n}` };
  const message = replyMessage(variant, '/knative-yolo/yolo-detector');
  const headers: Record<string, string> = { ...message.headers, 'ce-time': time.toISOString() };
  return { id: headers['ce-id']!, headers, body: message.body, record: variant };
}
