/**
 * Ultralytics stores its export metadata as Python literals (`{0: 'person', 1: 'bicycle'}`, `[640, 640]`).
 * This parser accepts exactly that literal subset: dicts, lists, tuples, strings, numbers, True/False/None.
 * It never evaluates anything.
 */

export type PyValue = string | number | boolean | null | PyValue[] | Map<string | number, PyValue>;

export class PyLiteralError extends Error {
  override name = 'PyLiteralError';
}

export function parsePythonLiteral(source: string): PyValue {
  let pos = 0;
  const fail = (what: string): never => {
    throw new PyLiteralError(`${what} at offset ${pos} in ${JSON.stringify(source.slice(0, 60))}`);
  };
  const ws = (): void => {
    while (pos < source.length && /\s/.test(source[pos]!)) pos++;
  };
  const str = (): string => {
    const quote = source[pos++];
    let out = '';
    while (pos < source.length && source[pos] !== quote) {
      let ch = source[pos++]!;
      if (ch === '\\') {
        const esc = source[pos++];
        const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };
        if (esc === undefined) fail('unterminated escape');
        if (esc === 'x' || esc === 'u') {
          const len = esc === 'x' ? 2 : 4;
          const hex = source.slice(pos, pos + len);
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) fail('bad escape');
          ch = String.fromCharCode(parseInt(hex, 16));
          pos += len;
        } else {
          ch = map[esc!] ?? fail(`unsupported escape \\${esc}`);
        }
      }
      out += ch;
    }
    if (source[pos] !== quote) fail('unterminated string');
    pos++;
    return out;
  };
  const value = (): PyValue => {
    ws();
    const ch = source[pos];
    if (ch === undefined) return fail('unexpected end');
    if (ch === "'" || ch === '"') return str();
    if (ch === '{') {
      pos++;
      const map = new Map<string | number, PyValue>();
      ws();
      while (source[pos] !== '}') {
        const key = value();
        if (typeof key !== 'string' && typeof key !== 'number') fail('dict key must be a string or number');
        ws();
        if (source[pos++] !== ':') fail("expected ':'");
        map.set(key as string | number, value());
        ws();
        if (source[pos] === ',') {
          pos++;
          ws();
        } else if (source[pos] !== '}') fail("expected ',' or '}'");
      }
      pos++;
      return map;
    }
    if (ch === '[' || ch === '(') {
      const close = ch === '[' ? ']' : ')';
      pos++;
      const list: PyValue[] = [];
      ws();
      while (source[pos] !== close) {
        list.push(value());
        ws();
        if (source[pos] === ',') {
          pos++;
          ws();
        } else if (source[pos] !== close) fail(`expected ',' or '${close}'`);
      }
      pos++;
      return list;
    }
    const word = /^(?:True|False|None|-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+))/.exec(source.slice(pos));
    if (!word) return fail('unexpected character');
    pos += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return Number(word[0]);
  };
  const result = value();
  ws();
  if (pos !== source.length) fail('trailing characters');
  return result;
}

/** Class names from the `names` entry: a dict of consecutive integer ids, or a list. */
export function parseClassNames(literal: string): string[] {
  const v = parsePythonLiteral(literal);
  if (Array.isArray(v)) {
    if (!v.every((x) => typeof x === 'string')) throw new PyLiteralError('names list must hold strings');
    return v as string[];
  }
  if (!(v instanceof Map)) throw new PyLiteralError('names must be a dict or a list');
  const names: string[] = [];
  for (let i = 0; i < v.size; i++) {
    const name = v.get(i);
    if (typeof name !== 'string') throw new PyLiteralError(`names has no string for class ${i}`);
    names.push(name);
  }
  return names;
}

/** `imgsz` as [height, width]: Ultralytics writes `[640, 640]` or a single int. */
export function parseImageSize(literal: string): [number, number] {
  const v = parsePythonLiteral(literal);
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && x > 0)) {
    return [v[0] as number, v[1] as number];
  }
  throw new PyLiteralError(`imgsz must be an int or [h, w], got ${literal}`);
}
