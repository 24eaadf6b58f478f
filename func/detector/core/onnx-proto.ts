/**
 * Reads the few parts of an ONNX ModelProto that onnxruntime-node does not expose (metadata_props, producer,
 * opsets, operator types). A protobuf wire-format walk is about sixty lines; a full protobuf library and the
 * onnx.proto schema would be a heavier dependency for four fields.
 */

export interface OnnxModelInfo {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsets: { domain: string; version: number }[];
  metadata: Map<string, string>;
  /** Distinct operator types of the main graph, in order of first use. */
  opTypes: string[];
}

export class OnnxFormatError extends Error {
  override name = 'OnnxFormatError';
}

interface Field {
  number: number;
  wireType: number;
  varint: number;
  bytes: Uint8Array;
}

function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= buf.length) throw new OnnxFormatError('truncated varint');
      const byte = buf[pos++]!;
      // Values above 2^53 only occur in fields we skip; precision loss there is harmless.
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new OnnxFormatError('varint longer than 10 bytes');
    }
  };
  while (pos < buf.length) {
    const key = readVarint();
    const number = Math.floor(key / 8);
    const wireType = key & 7;
    if (number === 0) throw new OnnxFormatError('field number 0');
    switch (wireType) {
      case 0:
        yield { number, wireType, varint: readVarint(), bytes: new Uint8Array() };
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        const len = readVarint();
        if (pos + len > buf.length) throw new OnnxFormatError('length-delimited field runs past the end');
        yield { number, wireType, varint: 0, bytes: buf.subarray(pos, pos + len) };
        pos += len;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        throw new OnnxFormatError(`unsupported wire type ${wireType}`);
    }
    if (pos > buf.length) throw new OnnxFormatError('fixed-width field runs past the end');
  }
}

const text = new TextDecoder('utf-8', { fatal: false });

export function readOnnxModelInfo(buf: Uint8Array): OnnxModelInfo {
  const info: OnnxModelInfo = {
    irVersion: 0,
    producerName: '',
    producerVersion: '',
    opsets: [],
    metadata: new Map(),
    opTypes: [],
  };
  let sawGraph = false;
  for (const f of fields(buf)) {
    if (f.number === 1 && f.wireType === 0) info.irVersion = f.varint;
    else if (f.number === 2 && f.wireType === 2) info.producerName = text.decode(f.bytes);
    else if (f.number === 3 && f.wireType === 2) info.producerVersion = text.decode(f.bytes);
    else if (f.number === 8 && f.wireType === 2) {
      let domain = '';
      let version = 0;
      for (const g of fields(f.bytes)) {
        if (g.number === 1 && g.wireType === 2) domain = text.decode(g.bytes);
        else if (g.number === 2 && g.wireType === 0) version = g.varint;
      }
      info.opsets.push({ domain, version });
    } else if (f.number === 14 && f.wireType === 2) {
      let key = '';
      let value = '';
      for (const g of fields(f.bytes)) {
        if (g.number === 1 && g.wireType === 2) key = text.decode(g.bytes);
        else if (g.number === 2 && g.wireType === 2) value = text.decode(g.bytes);
      }
      info.metadata.set(key, value);
    } else if (f.number === 7 && f.wireType === 2) {
      sawGraph = true;
      const seen = new Set<string>();
      for (const g of fields(f.bytes)) {
        if (g.number !== 1 || g.wireType !== 2) continue;
        for (const n of fields(g.bytes)) {
          if (n.number === 4 && n.wireType === 2) {
            const op = text.decode(n.bytes);
            if (!seen.has(op)) {
              seen.add(op);
              info.opTypes.push(op);
            }
          }
        }
      }
    }
  }
  if (!sawGraph || info.irVersion === 0) throw new OnnxFormatError('not an ONNX model (no graph or IR version)');
  return info;
}
