/**
 * Constant folding of the shape arithmetic exporters write (Shape → Gather → Unsqueeze → Concat →
 * Reshape for a flatten, Constant nodes, casts): evaluated when the graph is loaded, with the batch
 * size kept as a symbol that may be moved around but never computed with.
 */
import { broadcastApply, broadcastShape, squeezeShape, unsqueezeShape } from './shape-rules.js';
import { DT, SYM_N, TensorReader, toNumber, type Const, type NodeAttributes } from './onnx-values.js';

export interface FoldContext {
  readonly consts: ReadonlyMap<string, Const>;
  readonly opset: number;
  /** Throws the loader's error about the node being folded. */
  fail(problem: string): never;
}

/** A Constant node's value (or ConstantOfShape's fill), from whichever attribute holds it. */
export function constantValue(a: NodeAttributes): Const | undefined {
  const v = a.raw('value');
  if (v?.t) return new TensorReader(a.file, {}).read(v.t);
  const vf = a.raw('value_float');
  if (vf) return { kind: 'float', dims: [], data: Float32Array.of(vf.f ?? 0) };
  const vfs = a.raw('value_floats');
  if (vfs) return { kind: 'float', dims: [vfs.floats?.length ?? 0], data: Float32Array.from(vfs.floats ?? []) };
  const vi = a.raw('value_int');
  if (vi) return { kind: 'int', dims: [], data: [toNumber(vi.i, 'value_int', a.file)] };
  const vis = a.raw('value_ints');
  if (vis) {
    const data = (vis.ints ?? []).map((x) => toNumber(x, 'value_ints', a.file));
    return { kind: 'int', dims: [data.length], data };
  }
  return undefined;
}

/** Evaluates shape arithmetic on constants; undefined when the op is not one that folds. */
export function foldConstant(op: string, ins: readonly string[], a: NodeAttributes, ctx: FoldContext): Const | undefined {
  const c = (i: number) => ctx.consts.get(ins[i])!;
  const ints = (i: number) => Array.from(c(i).data as ArrayLike<number>);
  const noSym = (xs: number[]) => {
    if (xs.some((x) => x === SYM_N)) ctx.fail('arithmetic on the batch size');
    return xs;
  };
  switch (op) {
    case 'Identity':
    case 'Dropout':
      return c(0);
    case 'Cast': {
      const to = a.int('to', DT.FLOAT);
      const src = c(0);
      if (to === DT.FLOAT || to === DT.DOUBLE) return { kind: 'float', dims: src.dims, data: Float32Array.from(noSym(Array.from(src.data))) };
      return { kind: 'int', dims: src.dims, data: Array.from(src.data, (x) => (x === SYM_N ? x : Math.trunc(x))) };
    }
    case 'Gather': {
      const data = c(0);
      const idx = ints(1);
      let axis = a.int('axis', 0);
      if (axis < 0) axis += data.dims.length;
      if (data.dims.length !== 1 || axis !== 0) return undefined;
      const picked = idx.map((i) => {
        const j = i < 0 ? i + data.dims[0] : i;
        if (j < 0 || j >= data.dims[0]) ctx.fail(`index ${i} out of range`);
        return (data.data as ArrayLike<number>)[j];
      });
      const dims = c(1).dims.length === 0 ? [] : [picked.length];
      return data.kind === 'int' ? { kind: 'int', dims, data: picked } : { kind: 'float', dims, data: Float32Array.from(picked) };
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const src = c(0);
      const axes = ctx.opset >= 13 && ins[1] ? ints(1) : a.ints('axes');
      const dims = op === 'Squeeze' ? squeezeShape(src.dims, axes) : unsqueezeShape(src.dims, axes ?? []);
      if (!dims) ctx.fail('squeezes a dimension that is not 1');
      return { ...src, dims: [...dims] } as Const;
    }
    case 'Concat': {
      const parts = ins.map((_, i) => c(i));
      if (parts.some((p) => p.dims.length !== 1)) return undefined;
      const data = parts.flatMap((p) => Array.from(p.data as ArrayLike<number>));
      return parts.every((p) => p.kind === 'int') ? { kind: 'int', dims: [data.length], data } : { kind: 'float', dims: [data.length], data: Float32Array.from(data) };
    }
    case 'Slice': {
      const src = c(0);
      if (src.dims.length !== 1 || ctx.opset < 10) return undefined;
      const n = src.dims[0];
      const clamp = (v: number, hi: number) => Math.max(0, Math.min(hi, v < 0 ? v + n : v));
      const start = clamp(ints(1)[0], n);
      const end = clamp(ints(2)[0], n);
      const step = ins[4] ? ints(4)[0] : 1;
      if (step !== 1) return undefined;
      const data = Array.from(src.data as ArrayLike<number>).slice(start, end);
      return src.kind === 'int' ? { kind: 'int', dims: [data.length], data } : { kind: 'float', dims: [data.length], data: Float32Array.from(data) };
    }
    case 'ConstantOfShape': {
      const dims = noSym(ints(0));
      const count = dims.reduce((p, d) => p * d, 1);
      if (count > 1 << 20) return undefined;
      const value = constantValue(a);
      const fill = value?.data[0] ?? 0;
      return value?.kind === 'int' ? { kind: 'int', dims, data: new Array<number>(count).fill(fill) } : { kind: 'float', dims, data: new Float32Array(count).fill(fill) };
    }
    case 'Reshape': {
      const src = c(0);
      const target = noSym(ints(1));
      const count = src.dims.reduce((p, d) => p * d, 1);
      const known = target.reduce((p, d, i) => p * (d === -1 ? 1 : d === 0 ? src.dims[i] : d), 1);
      const dims = target.map((d, i) => (d === -1 ? count / known : d === 0 ? src.dims[i] : d));
      return { ...src, dims } as Const;
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div': {
      const [x, y] = [c(0), c(1)];
      const dims = broadcastShape(x.dims, y.dims);
      if (!dims) ctx.fail('constant shapes do not broadcast');
      const xs = noSym(Array.from(x.data as ArrayLike<number>));
      const ys = noSym(Array.from(y.data as ArrayLike<number>));
      const out = broadcastApply(x.dims, xs, y.dims, ys, dims, (p, q) => (op === 'Add' ? p + q : op === 'Sub' ? p - q : op === 'Mul' ? p * q : x.kind === 'int' && y.kind === 'int' ? Math.trunc(p / q) : p / q));
      return x.kind === 'int' && y.kind === 'int' ? { kind: 'int', dims: [...dims], data: out } : { kind: 'float', dims: [...dims], data: Float32Array.from(out) };
    }
    default:
      return undefined;
  }
}
