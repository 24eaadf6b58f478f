#!/usr/bin/env python3
"""Time a YOLO detector's float graph on a GPU, and check it against onnxruntime's CPU run of the int8 file.

The service's GPU image runs the model through onnxruntime's CUDA provider, whose libraries onnxruntime-node
downloads from NuGet at install time and which needs CUDA 12 with cuDNN 9. Where those cannot be had (a GPU
machine with no way out, or another CUDA), this still measures what the GPU itself costs for the same network:
it reads the int8 ONNX file, turns each dynamically quantized convolution back into a float one
((W - zero point) × scale), and runs the graph with PyTorch on cuDNN. That is the network a float export of the
same weights computes; it is not onnxruntime, so it says what the GPU can do, not what the provider adds.

Needs Python with numpy, onnx, torch (CUDA build for a GPU) and Pillow; onnxruntime (CPU) for the check. Not run by
the tests.

    python3 model/gpu_time.py ../shared/models/yolov8n-coco-int8-640-dynbatch.onnx ../shared/images/bus.jpg
    python3 model/gpu_time.py MODEL.onnx IMAGE.jpg --batches 1,8,32 --iters 200 --json gpu-time.json

Prints one JSON object: the device, the check (median and largest score and box differences against the int8 CPU
run, and the detections), and per configuration the median milliseconds per call and per image, each call waited
for. host_cpu_ms_per_call is the calling thread's CPU per call: for the GPU runs it is about the wall time, since
waiting for the GPU spins, so it says nothing of the work; onnxruntime's own threads are not in it.
"""

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from PIL import Image


def parse_args(argv):
    p = argparse.ArgumentParser(description="Time a YOLO detector's float graph on a GPU.")
    p.add_argument("model", help="an Ultralytics detect export, dynamically quantized (ConvInteger), as ../shared has")
    p.add_argument("image", help="an image to letterbox as the model's input")
    p.add_argument("--batches", default="1,8,32", help="batch sizes to time (a model with a static batch runs 1)")
    p.add_argument("--iters", type=int, default=200, help="timed calls per configuration")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls before each configuration")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", help="also write the result to this file")
    return p.parse_args(argv)


def attributes(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class Node:
    """One step of the rewritten graph: an ONNX op, or FloatConv for a folded quantized convolution."""

    def __init__(self, op, inputs, outputs, attrs=None, **extra):
        self.op, self.inputs, self.outputs, self.attrs = op, list(inputs), list(outputs), attrs or {}
        self.extra = extra


def fold_constants(nodes, consts):
    """Evaluate the Reshape and Constant nodes whose inputs are all constants (the biases' reshapes)."""
    rest = []
    for n in nodes:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(attributes(n)["value"])
        elif n.op_type == "Reshape" and all(i in consts for i in n.input):
            data, shape = consts[n.input[0]], consts[n.input[1]]
            target = [data.shape[i] if s == 0 else int(s) for i, s in enumerate(shape)]
            consts[n.output[0]] = data.reshape(target)
        else:
            rest.append(n)
    return rest


def only(nodes, op):
    """The one node of a list, if it is one and of that op; else None."""
    return nodes[0] if len(nodes) == 1 and nodes[0].op_type == op else None


def float_graph(model):
    """The graph as Nodes, each DynamicQuantizeLinear → ConvInteger → Cast → Mul(scale) [→ Add(bias)] chain one
    FloatConv; what only fed those chains is dropped."""
    g = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    nodes = fold_constants(list(g.node), consts)
    producer = {o: n for n in nodes for o in n.output}
    consumers = defaultdict(list)
    for n in nodes:
        for i in n.input:
            consumers[i].append(n)
    replaced, out = set(), []
    for n in nodes:
        if id(n) in replaced:
            continue
        if n.op_type != "ConvInteger":
            out.append(Node(n.op_type, n.input, n.output, attributes(n)))
            continue
        quantize = producer.get(n.input[0])
        cast = only(consumers[n.output[0]], "Cast")
        scale_mul = cast and only(consumers[cast.output[0]], "Mul")
        if not quantize or quantize.op_type != "DynamicQuantizeLinear" or not scale_mul:
            raise SystemExit(f"{n.name}: not the dynamic-quantization pattern this script folds")
        scales = producer[next(i for i in scale_mul.input if i != cast.output[0])]
        w_scale = next(consts[i] for i in scales.input if i in consts).astype(np.float32)
        w = consts[n.input[1]].astype(np.float32)
        w_zero = consts[n.input[3]].astype(np.float32) if len(n.input) > 3 and n.input[3] else 0.0
        if w_scale.ndim == 1:
            w_scale = w_scale.reshape(-1, 1, 1, 1)
        weight = (w - w_zero) * w_scale
        bias, result = None, scale_mul.output[0]
        followers = consumers[result]
        if len(followers) == 1 and followers[0].op_type == "Add":
            other = next(i for i in followers[0].input if i != result)
            if other in consts:
                bias = consts[other].astype(np.float32).reshape(-1)
                result = followers[0].output[0]
                replaced.add(id(followers[0]))
        replaced.update({id(cast), id(scale_mul)})
        out.append(Node("FloatConv", [quantize.input[0]], [result], attributes(n), weight=weight, bias=bias))
    # Only what the graph's outputs need: the quantizers and their scale products fall away.
    needed = {o.name for o in g.output}
    live = []
    for n in reversed(out):
        if any(o in needed for o in n.outputs):
            live.append(n)
            needed.update(n.inputs)
    live.reverse()
    return live, consts


class Program:
    """The rewritten graph as a list of torch calls, with its constants on the device in one dtype."""

    def __init__(self, model, device, dtype, channels_last=False):
        nodes, consts = float_graph(model)
        self.input = model.graph.input[0].name
        self.output = model.graph.output[0].name
        self.dtype, self.channels_last = dtype, channels_last
        self.consts = {}
        for name, value in consts.items():
            if value.dtype.kind == "f":
                self.consts[name] = torch.from_numpy(np.array(value)).to(device, dtype)
            elif value.dtype == np.int64:  # shapes, axes, split sizes: read on the host, never sent
                self.consts[name] = [int(v) for v in value.reshape(-1)]
            # The int8 weights and zero points were folded into the float convolutions.
        self.nodes = nodes
        self.steps = [self._step(n, device) for n in nodes]
        self.ops = sorted({n.op for n in nodes})
        self.node_count = len(nodes)

    def _step(self, n, device):
        a = n.attrs
        if n.op == "FloatConv":
            w = torch.from_numpy(n.extra["weight"]).to(device, self.dtype)
            if self.channels_last:
                w = w.to(memory_format=torch.channels_last)
            b = None if n.extra["bias"] is None else torch.from_numpy(n.extra["bias"]).to(device, self.dtype)
            pads = a.get("pads", [0, 0, 0, 0])
            if pads[:2] != pads[2:]:
                raise SystemExit("asymmetric convolution padding is not handled")
            stride, dil, groups = tuple(a.get("strides", [1, 1])), tuple(a.get("dilations", [1, 1])), a.get("group", 1)
            return lambda x: F.conv2d(x, w, b, stride, tuple(pads[:2]), dil, groups)
        if n.op == "Sigmoid":
            return torch.sigmoid
        if n.op in ("Add", "Sub", "Mul", "Div"):
            return {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[n.op]
        if n.op == "Concat":
            return lambda *xs: torch.cat(xs, dim=a["axis"])
        if n.op == "Split":
            sizes = self.consts[n.inputs[1]] if len(n.inputs) > 1 and n.inputs[1] else None
            count = len(n.outputs)
            return lambda x, *_: torch.split(x, sizes or x.shape[a.get("axis", 0)] // count, dim=a.get("axis", 0))
        if n.op == "MaxPool":
            pads = a.get("pads", [0, 0, 0, 0])
            k, s = tuple(a["kernel_shape"]), tuple(a.get("strides", [1, 1]))
            d, ceil = tuple(a.get("dilations", [1, 1])), bool(a.get("ceil_mode", 0))
            return lambda x: F.max_pool2d(x, k, s, tuple(pads[:2]), d, ceil)
        if n.op == "Resize":
            mode = a.get("mode", b"nearest")
            ctm = a.get("coordinate_transformation_mode", b"half_pixel")
            if mode != b"nearest" or ctm != b"asymmetric" or a.get("nearest_mode", b"round_prefer_floor") != b"floor":
                raise SystemExit(f"Resize {mode}/{ctm}: only nearest, asymmetric, floor (as torch's nearest) is handled")
            scales = n.inputs[2] if len(n.inputs) > 2 else ""
            if scales:
                factor = tuple(float(v) for v in self.consts[scales][2:].cpu())
                return lambda x, *_: F.interpolate(x, scale_factor=factor, mode="nearest")
            size = tuple(self.consts[n.inputs[3]][2:])
            return lambda x, *_: F.interpolate(x, size=size, mode="nearest")
        if n.op == "Reshape":
            target, allow_zero = self.consts[n.inputs[1]], a.get("allowzero", 0)
            return lambda x, _: x.reshape(
                [x.shape[i] if s == 0 and not allow_zero else s for i, s in enumerate(target)]
            )
        if n.op == "Slice":
            starts, ends = self.consts[n.inputs[1]], self.consts[n.inputs[2]]
            axes = self.consts[n.inputs[3]] if len(n.inputs) > 3 and n.inputs[3] else list(range(len(starts)))
            steps = self.consts[n.inputs[4]] if len(n.inputs) > 4 and n.inputs[4] else [1] * len(starts)

            def sliced(x, *_):
                index = [slice(None)] * x.dim()
                for ax, st, en, sp in zip(axes, starts, ends, steps):
                    index[ax] = slice(st, min(en, x.shape[ax]), sp)
                return x[tuple(index)]

            return sliced
        if n.op == "Softmax":
            return lambda x: torch.softmax(x, dim=a.get("axis", -1))
        if n.op == "Transpose":
            return lambda x: x.permute(*a["perm"])
        if n.op == "Cast":
            return lambda x: x.to(self.dtype)
        raise SystemExit(f"op {n.op} is not handled")

    def __call__(self, x):
        env = {self.input: x}
        for n, fn in zip(self.nodes, self.steps):
            args = [env[i] if i in env else self.consts[i] for i in n.inputs if i]
            result = fn(*args)
            if len(n.outputs) == 1:
                env[n.outputs[0]] = result
            else:
                env.update(zip(n.outputs, result))
        return env[self.output]


def letterbox(path, size):
    """RGB, scaled to fit, centred on grey 114, as Ultralytics and the service prepare the model's input."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    r = min(size / w, size / h)
    nw, nh = round(w * r), round(h * r)
    canvas = Image.new("RGB", (size, size), (114, 114, 114))
    left, top = (size - nw) // 2, (size - nh) // 2
    canvas.paste(img.resize((nw, nh), Image.BILINEAR), (left, top))
    x = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    return np.ascontiguousarray(x), (r, left, top, w, h)


def detections(output, geometry, conf=0.25, iou=0.7):
    """Class-wise NMS over one [84, N] output, boxes in the original image's pixels."""
    r, left, top, w, h = geometry
    scores = output[4:]
    cls, score = scores.argmax(0), scores.max(0)
    keep = np.nonzero(score >= conf)[0]
    cx, cy, bw, bh = output[:4, keep]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    boxes = (boxes - [left, top, left, top]) / r
    boxes = np.clip(boxes, 0, [w, h, w, h])
    order = np.argsort(-score[keep])
    kept = []
    for i in order:
        if all(cls[keep[i]] != cls[keep[j]] or iou_of(boxes[i], boxes[j]) <= iou for j in kept):
            kept.append(i)
    return [
        {"class": int(cls[keep[i]]), "score": round(float(score[keep[i]]), 3), "box": [round(float(v)) for v in boxes[i]]}
        for i in kept
    ]


def iou_of(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def compare(ref, out, conf=0.25):
    """Median and largest score and box differences over the candidates the reference scores at conf or more."""
    keep = ref[4:].max(0) >= conf
    score_diff = np.abs(ref[4:, keep] - out[4:, keep]).max(0)
    box_diff = np.abs(ref[:4, keep] - out[:4, keep]).max(0)
    return {
        "candidates": int(keep.sum()),
        "candidates_here": int((out[4:].max(0) >= conf).sum()),
        "score_diff_median_max": [round(float(np.median(score_diff)), 4), round(float(score_diff.max()), 4)],
        "box_diff_px_median_max": [round(float(np.median(box_diff)), 2), round(float(box_diff.max()), 2)],
    }


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device, iters, warmup):
    """Median wall milliseconds and the calling thread's CPU milliseconds per call, each call waited for."""
    for _ in range(warmup):
        fn()
    sync(device)
    walls, cpu0 = [], time.thread_time()
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync(device)
        walls.append((time.perf_counter() - t0) * 1000)
    return statistics.median(walls), (time.thread_time() - cpu0) * 1000 / iters


def graphed(program, x):
    """The program captured as a CUDA graph: one launch per call instead of one per kernel."""
    static_x = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            program(static_x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y = program(static_x)
    return graph, static_x, static_y


def main(argv):
    args = parse_args(argv)
    torch.backends.cudnn.benchmark = True
    model = onnx.load(args.model)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    size = dims[2].dim_value or 640
    dynamic = not dims[0].dim_value
    batches = [int(b) for b in args.batches.split(",")] if dynamic else [1]
    x_np, geometry = letterbox(args.image, size)
    dev = args.device
    result = {
        "model": args.model,
        "image": args.image,
        "device": torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version() if dev.startswith("cuda") else None,
        "iters": args.iters,
        "runs": [],
    }

    def program(dtype, channels_last=False):
        return Program(model, dev, dtype, channels_last)

    def prepared(p, batch):
        x = torch.from_numpy(np.repeat(x_np, batch, 0)).to(dev, p.dtype)
        return x.to(memory_format=torch.channels_last) if p.channels_last else x

    fp32, fp16 = program(torch.float32), program(torch.float16 if dev.startswith("cuda") else torch.float32)
    result["graph"] = {"nodes": fp32.node_count, "ops": fp32.ops}
    with torch.inference_mode():
        out32 = fp32(prepared(fp32, 1)).float().cpu().numpy()[0]
        out16 = fp16(prepared(fp16, 1)).float().cpu().numpy()[0]
    check = {"detections_fp16": detections(out16, geometry)}
    try:
        import onnxruntime as ort

        session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
        ref = session.run(None, {model.graph.input[0].name: x_np})[0][0].astype(np.float32)
        check["onnxruntime"] = ort.__version__
        check["onnxruntime_providers"] = ort.get_available_providers()
        check["fp32_vs_int8_cpu"] = compare(ref, out32)
        check["fp16_vs_int8_cpu"] = compare(ref, out16)
        check["detections_int8_cpu"] = detections(ref, geometry)
    except ImportError:
        session = None
        check["onnxruntime"] = None
    result["check"] = check

    def run(name, fn, batch):
        try:
            ms, cpu = timed(fn, dev, args.iters, args.warmup)
        except Exception as e:  # one configuration the device refuses should not cost the others' figures
            result["runs"].append({"run": name, "batch": batch, "error": repr(e)})
            print(f"{name}: {e!r}", file=sys.stderr)
            return
        row = {"run": name, "batch": batch, "ms_per_call": round(ms, 3), "ms_per_image": round(ms / batch, 3)}
        row["host_cpu_ms_per_call"] = round(cpu, 3)
        result["runs"].append(row)
        print(json.dumps(row), file=sys.stderr)

    if session is not None:
        feed = {model.graph.input[0].name: x_np}
        run("onnxruntime CPU, the int8 file (this machine's cores)", lambda: session.run(None, feed), 1)
    with torch.inference_mode():
        host_in = np.ascontiguousarray(x_np)
        x = prepared(fp32, 1)
        run("copy in: host float32 input → device", lambda: torch.from_numpy(host_in).to(dev), 1)
        y = fp32(x)
        run("copy out: device float32 output → host", lambda: y.cpu(), 1)
        run("fp32 eager", lambda: fp32(x), 1)
        run("fp32 eager, host input to host output", lambda: fp32(torch.from_numpy(host_in).to(dev)).cpu(), 1)
        if dev.startswith("cuda"):
            for p, label in ((fp16, "fp16"), (program(torch.float16, channels_last=True), "fp16 channels-last")):
                x1 = prepared(p, 1)
                run(f"{label} eager", lambda p=p, x1=x1: p(x1), 1)
                for batch in batches:
                    try:
                        graph, _, _ = graphed(p, prepared(p, batch))
                    except Exception as e:
                        result["runs"].append({"run": f"{label} CUDA graph", "batch": batch, "error": repr(e)})
                        continue
                    run(f"{label} CUDA graph", graph.replay, batch)
            graph, static_x, static_y = graphed(fp16, prepared(fp16, 1))

            def end_to_end():
                static_x.copy_(torch.from_numpy(host_in).to(dev, torch.float16))
                graph.replay()
                return static_y.float().cpu()

            run("fp16 CUDA graph, host input to host output", end_to_end, 1)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
