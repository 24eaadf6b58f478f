import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root and the read-only shared data beside it (never copied into the repo). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = path.resolve(ROOT, '..', 'shared');
export const MODELS = path.join(SHARED, 'models');
export const IMAGES = path.join(SHARED, 'images');
export const COCO128 = path.join(SHARED, 'datasets', 'coco128-train');
export const YOLOV8N = path.join(MODELS, 'yolov8n-coco-int8-640.onnx');
export const YOLO11N_320 = path.join(MODELS, 'yolo11n-coco-int8-320.onnx');
export const YOLO11N_192 = path.join(MODELS, 'yolo11n-coco-int8-192.onnx');
export const YOLOV8N_DYNBATCH = path.join(MODELS, 'yolov8n-coco-int8-640-dynbatch.onnx');
export const YOLOV8N_FP16 = path.join(MODELS, 'yolov8n-coco-fp16io-640.onnx');
