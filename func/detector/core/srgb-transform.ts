/**
 * An RGB image's colour profile applied to its model input, after the resize rather than by sharp on decode.
 *
 * The model's input is made in sRGB, as the reference detections were (../shared/README.md). sharp converts through
 * the embedded profile with lcms on every decoded pixel, before any resize: for bus.jpg (Display P3, 810x1080) that
 * doubled the CPU of its decode (docs/performance.md). A display profile is almost always a matrix/TRC profile (three
 * tone curves and a 3x3 matrix into the PCS), whose conversion is cheap to do here on the 640-pixel model input only.
 * Profiles with lookup tables (A2B*, D2B*: lcms would use those) and anything this does not read are left to sharp.
 */

/** Converts packed 8-bit RGB in the profile's space to sRGB. */
export interface SrgbTransform {
  /** The profile is sRGB (as Android phones embed it): every value maps to itself, and convert copies nothing. */
  readonly identity: boolean;
  /** Writes `pixels` converted into `out` (by default, in place) and returns it. */
  convert(pixels: Uint8Array, out?: Uint8Array): Uint8Array;
}

/**
 * libvips' own sRGB profile, into which sharp converts (the `srgb` built-in: ICC v4.2, D50 PCS), read from its tags:
 * the colorants rXYZ, gXYZ, bXYZ as s15Fixed16 and the one parametric curve (type 3) all three channels share.
 * test/unit/srgb-transform.test.ts reads the profile out of sharp and checks these against it.
 */
export const LIBVIPS_SRGB = {
  colorants: [
    [28576, 14578, 911],
    [25238, 46985, 6362],
    [9376, 3973, 46788],
  ],
  curve: [157289, 62119, 3417, 5072, 2651],
} as const;

const fixed = (v: number): number => v / 65536;

/** Linear values are quantised to this many steps before the tone curve is inverted (max error: one 8-bit level). */
const STEPS = 4096;
/** Matrix coefficients in fixed point: linear values (0..65535) times these fit in 32 bits three times over. */
const MATRIX_ONE = 4096;
const SHIFT = 16;

type Curve = (x: number) => number;

/** ICC.1:2022 10.18 parametricCurveType: the five function types by their parameter count. */
function parametric(type: number, p: number[]): Curve | undefined {
  const [g = 1, a = 1, b = 0, c = 0, d = 0, e = 0, f = 0] = p;
  const power = (x: number): number => (x > 0 ? x ** g : 0);
  switch (type) {
    case 0:
      return (x) => power(x);
    case 1:
      return (x) => (x >= -b / a ? power(a * x + b) : 0);
    case 2:
      return (x) => (x >= -b / a ? power(a * x + b) + c : c);
    case 3:
      return (x) => (x >= d ? power(a * x + b) : c * x);
    case 4:
      return (x) => (x >= d ? power(a * x + b) + e : c * x + f);
    default:
      return undefined;
  }
}

const PARAMETER_COUNTS = [1, 3, 4, 5, 7];

/** A tone curve tag (curveType or parametricCurveType), device value → linear, both 0..1. */
function readCurve(tag: Buffer): Curve | undefined {
  if (tag.length < 12) return undefined;
  const type = tag.toString('latin1', 0, 4);
  if (type === 'curv') {
    const n = tag.readUInt32BE(8);
    if (tag.length < 12 + 2 * n) return undefined;
    if (n === 0) return (x) => x;
    if (n === 1) {
      const gamma = tag.readUInt16BE(12) / 256;
      return (x) => x ** gamma;
    }
    const table = Array.from({ length: n }, (_, i) => tag.readUInt16BE(12 + 2 * i) / 65535);
    return (x) => {
      const at = x * (n - 1);
      const i = Math.min(n - 2, Math.floor(at));
      return table[i]! + (table[i + 1]! - table[i]!) * (at - i);
    };
  }
  if (type === 'para') {
    const kind = tag.readUInt16BE(8);
    const count = PARAMETER_COUNTS[kind];
    if (count === undefined || tag.length < 12 + 4 * count) return undefined;
    return parametric(
      kind,
      Array.from({ length: count }, (_, i) => fixed(tag.readInt32BE(12 + 4 * i))),
    );
  }
  return undefined;
}

/** The profile's tags by signature; undefined if the tag table runs past the profile. */
function readTags(icc: Buffer): Map<string, Buffer> | undefined {
  if (icc.length < 132) return undefined;
  const count = icc.readUInt32BE(128);
  if (132 + 12 * count > icc.length) return undefined;
  const tags = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const entry = 132 + 12 * i;
    const offset = icc.readUInt32BE(entry + 4);
    const size = icc.readUInt32BE(entry + 8);
    if (offset + size > icc.length) return undefined;
    tags.set(icc.toString('latin1', entry, entry + 4), icc.subarray(offset, offset + size));
  }
  return tags;
}

type Matrix = readonly number[];

/** Columns r, g, b of XYZ colorants → a row-major 3x3 matrix from linear RGB to XYZ. */
const fromColorants = (r: readonly number[], g: readonly number[], b: readonly number[]): Matrix => [
  r[0]!,
  g[0]!,
  b[0]!,
  r[1]!,
  g[1]!,
  b[1]!,
  r[2]!,
  g[2]!,
  b[2]!,
];

function multiply(a: Matrix, b: Matrix): Matrix {
  return Array.from({ length: 9 }, (_, k) => {
    const row = Math.floor(k / 3);
    const col = k % 3;
    return a[3 * row]! * b[col]! + a[3 * row + 1]! * b[3 + col]! + a[3 * row + 2]! * b[6 + col]!;
  });
}

function invert(m: Matrix): Matrix {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    (e * i - f * h) / det,
    (c * h - b * i) / det,
    (b * f - c * e) / det,
    (f * g - d * i) / det,
    (a * i - c * g) / det,
    (c * d - a * f) / det,
    (d * h - e * g) / det,
    (b * g - a * h) / det,
    (a * e - b * d) / det,
  ];
}

/** XYZ (D50) → linear sRGB, from libvips' profile. */
const XYZ_TO_SRGB = invert(
  fromColorants(...(LIBVIPS_SRGB.colorants.map((c) => c.map(fixed)) as [number[], number[], number[]])),
);

/** Linear (0..STEPS) → 8-bit sRGB: the inverse of libvips' sRGB curve (type 3), clipped as lcms clips. */
const ENCODE = (() => {
  const [g, a, b, c, d] = LIBVIPS_SRGB.curve.map(fixed) as [number, number, number, number, number];
  const table = new Uint8Array(STEPS + 1);
  for (let i = 0; i <= STEPS; i++) {
    const y = i / STEPS;
    const x = y >= c * d ? (y ** (1 / g) - b) / a : y / c;
    table[i] = Math.round(Math.min(Math.max(x, 0), 1) * 255);
  }
  return table;
})();

const LUT_TAGS = ['A2B0', 'A2B1', 'A2B2', 'D2B0', 'D2B1', 'D2B2'];

/**
 * The conversion to sRGB for an RGB matrix/TRC profile (ICC.1 F.3: three TRC tags and three colorant tags, PCS XYZ),
 * or undefined when it is another kind of profile, or one this cannot read: the caller then lets sharp convert.
 */
export function srgbTransformFor(icc: Buffer | undefined): SrgbTransform | undefined {
  if (!icc || icc.length < 132) return undefined;
  if (icc.toString('latin1', 16, 20) !== 'RGB ' || icc.toString('latin1', 20, 24) !== 'XYZ ') return undefined;
  const tags = readTags(icc);
  if (!tags || LUT_TAGS.some((sig) => tags.has(sig))) return undefined;
  const colorants = ['rXYZ', 'gXYZ', 'bXYZ'].map((sig) => {
    const tag = tags.get(sig);
    if (!tag || tag.length < 20 || tag.toString('latin1', 0, 4) !== 'XYZ ') return undefined;
    return [8, 12, 16].map((at) => fixed(tag.readInt32BE(at)));
  });
  const curves = ['rTRC', 'gTRC', 'bTRC'].map((sig) => {
    const tag = tags.get(sig);
    return tag && readCurve(tag);
  });
  const [r, g, b] = colorants;
  if (!r || !g || !b || curves.some((c) => c === undefined)) return undefined;

  const toSrgb = multiply(XYZ_TO_SRGB, fromColorants(r, g, b));
  // Fixed point keeps to 32 bits while a row's coefficients sum to under 8: far beyond any display's gamut.
  if ([0, 3, 6].some((row) => Math.abs(toSrgb[row]!) + Math.abs(toSrgb[row + 1]!) + Math.abs(toSrgb[row + 2]!) >= 8)) {
    return undefined;
  }
  const coefficients = Int32Array.from(toSrgb, (v) => Math.round(v * MATRIX_ONE));
  const linear = (curves as Curve[]).map((curve) =>
    Int32Array.from({ length: 256 }, (_, v) => Math.round(Math.min(Math.max(curve(v / 255), 0), 1) * 65535)),
  );
  // A profile whose black is not zero gets lcms' black point compensation (always, for ICC v4's perceptual intent),
  // which this does not do; display profiles map 0 to 0.
  if (linear.some((lut) => lut[0] !== 0)) return undefined;
  const identity = linear.every((lut, channel) =>
    lut.every((level, v) =>
      [0, 1, 2].every((row) => {
        const x = (coefficients[3 * row + channel]! * level + (1 << (SHIFT - 1))) >> SHIFT;
        return ENCODE[x < 0 ? 0 : x > STEPS ? STEPS : x] === (row === channel ? v : 0);
      }),
    ),
  );
  return {
    identity,
    convert: (pixels, out = pixels) => {
      if (!identity) return apply(pixels, out, linear, coefficients);
      if (out !== pixels) out.set(pixels);
      return out;
    },
  };
}

/** The transforms of the profiles seen last: a phone's photos all carry the same one. */
const recent = new Map<string, SrgbTransform | undefined>();
const RECENT = 8;

/**
 * srgbTransformFor, remembered for the last few profiles, so that a request pays neither the parsing nor the
 * tables for a profile the service has seen.
 */
export function srgbTransformOf(icc: Buffer | undefined): SrgbTransform | undefined {
  if (!icc) return undefined;
  const key = icc.toString('base64');
  if (recent.has(key)) {
    const known = recent.get(key);
    recent.delete(key);
    recent.set(key, known);
    return known;
  }
  const made = srgbTransformFor(icc);
  recent.set(key, made);
  if (recent.size > RECENT) recent.delete(recent.keys().next().value!);
  return made;
}

/** Tone curves through 16-bit tables, the matrix in fixed point, then sRGB's curve from a table: integers only. */
function apply(pixels: Uint8Array, out: Uint8Array, linear: Int32Array[], m: Int32Array): Uint8Array {
  if (out.length !== pixels.length || pixels.length % 3 !== 0) {
    throw new RangeError(`${pixels.length} bytes of RGB into ${out.length}`);
  }
  // Plain Uint8Array views: element access on one kind of array stays fast whether a Buffer or not was passed.
  const src = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length);
  const dst = new Uint8Array(out.buffer, out.byteOffset, out.length);
  const lr = linear[0]!;
  const lg = linear[1]!;
  const lb = linear[2]!;
  const encode = ENCODE;
  const a = m[0]!;
  const b = m[1]!;
  const c = m[2]!;
  const d = m[3]!;
  const e = m[4]!;
  const f = m[5]!;
  const g = m[6]!;
  const h = m[7]!;
  const i = m[8]!;
  const half = 1 << (SHIFT - 1);
  const n = src.length;
  for (let p = 0; p < n; p += 3) {
    const R = lr[src[p]!]!;
    const G = lg[src[p + 1]!]!;
    const B = lb[src[p + 2]!]!;
    let x = (a * R + b * G + c * B + half) >> SHIFT;
    let y = (d * R + e * G + f * B + half) >> SHIFT;
    let z = (g * R + h * G + i * B + half) >> SHIFT;
    x = x < 0 ? 0 : x > STEPS ? STEPS : x;
    y = y < 0 ? 0 : y > STEPS ? STEPS : y;
    z = z < 0 ? 0 : z > STEPS ? STEPS : z;
    dst[p] = encode[x]!;
    dst[p + 1] = encode[y]!;
    dst[p + 2] = encode[z]!;
  }
  return out;
}
