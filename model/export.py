#!/usr/bin/env python3
"""Export an Ultralytics detector to ONNX for knative-yolo, and print what to put in the configuration.

Needs Python with `pip install ultralytics` (which brings PyTorch); not run by knative-yolo's tests.

    python model/export.py yolo11n.pt                  # default: [1, 84, 8400], imgsz 640
    python model/export.py yolo11n.pt --imgsz 320      # smaller input: faster, less accurate
    python model/export.py yolo11n.pt --dynamic        # symbolic batch (and size): micro-batching on GPUs
    python model/export.py yolo11n.pt --nms            # end-to-end: NMS inside the graph, [1, 300, 6]

Then check the file with `npx knative-yolo inspect <file>.onnx` and stage it onto the models volume
(model/README.md).
"""

import argparse
import hashlib
import shutil
import sys
from pathlib import Path


def parse_args(argv):
    p = argparse.ArgumentParser(description="Export an Ultralytics detector to ONNX for knative-yolo.")
    p.add_argument("weights", help="a .pt checkpoint or an Ultralytics model name, e.g. yolo11n.pt")
    p.add_argument("--imgsz", type=int, default=640, help="square input size, a multiple of 32 (default 640)")
    p.add_argument("--dynamic", action="store_true", help="symbolic batch and image axes")
    p.add_argument("--nms", action="store_true", help="put NMS in the graph (end-to-end output [1, K, 6])")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: Ultralytics' choice)")
    p.add_argument("--out", type=Path, default=Path("."), help="folder for the .onnx file (default: here)")
    args = p.parse_args(argv)
    if args.imgsz % 32:
        p.error("--imgsz must be a multiple of 32 (the detector's largest stride)")
    return args


def main(argv):
    args = parse_args(argv)
    try:
        from ultralytics import YOLO  # imported late so --help works without it
    except ImportError:
        sys.exit("model/export.py needs ultralytics: pip install ultralytics")

    model = YOLO(args.weights)
    exported = Path(
        model.export(
            format="onnx",
            imgsz=args.imgsz,
            dynamic=args.dynamic,
            nms=args.nms,
            opset=args.opset,
            simplify=True,
            device="cpu",
        )
    )
    stem = Path(args.weights).stem
    suffix = "-".join(s for s in [str(args.imgsz), "dyn" if args.dynamic else "", "nms" if args.nms else ""] if s)
    target = args.out / f"{stem}-{suffix}.onnx"
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.move(str(exported), target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    print(f"wrote {target} ({target.stat().st_size} bytes)")
    print("configuration (ConfigMap or the Service's env):")
    print(f"  MODEL_PATH=/models/{target.name}")
    print(f"  MODEL_SHA256={digest}")


if __name__ == "__main__":
    main(sys.argv[1:])
