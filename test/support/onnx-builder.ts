/**
 * Builds tiny, real ONNX models (an Identity graph) for tests of what the service refuses: a protobuf
 * encoder for the handful of ModelProto fields onnxruntime needs.
 */

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

const key = (field: number, wire: number): number[] => varint(field * 8 + wire);
const int = (field: number, n: number): number[] => [...key(field, 0), ...varint(n)];
const bytes = (field: number, data: number[] | Buffer): number[] => [...key(field, 2), ...varint(data.length), ...data];
const str = (field: number, s: string): number[] => bytes(field, Buffer.from(s, 'utf8'));

function valueInfo(name: string, shape: (number | string)[]): number[] {
  const dims = shape.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  const tensorType = [...int(1, 1 /* FLOAT */), ...bytes(2, dims)];
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
}

/** A model whose single node copies input `x` to output `y`, with the given shapes and metadata. */
export function identityModel(
  inputShape: (number | string)[],
  outputShape: (number | string)[] = inputShape,
  metadata: Record<string, string> = {},
): Buffer {
  const node = [...str(1, 'x'), ...str(2, 'y'), ...str(4, 'Identity')];
  const graph = [
    ...bytes(1, node),
    ...str(2, 'identity'),
    ...bytes(11, valueInfo('x', inputShape)),
    ...bytes(12, valueInfo('y', outputShape)),
  ];
  const props = Object.entries(metadata).flatMap(([k, v]) => bytes(14, [...str(1, k), ...str(2, v)]));
  return Buffer.from([
    ...int(1, 8),
    ...str(2, 'knative-yolo-tests'),
    ...bytes(7, graph),
    ...bytes(8, [...str(1, ''), ...int(2, 13)]),
    ...props,
  ]);
}
