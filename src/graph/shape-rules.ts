/** Shape rules shared by loading and folding: squeeze, unsqueeze, numpy broadcasting. */
import type { Shape } from './ir.js';

export function squeezeShape(s: Shape, axes: number[] | undefined): number[] | undefined {
  if (axes === undefined || axes.length === 0) return s.filter((d) => d !== 1);
  const norm = axes.map((x) => (x < 0 ? x + s.length : x));
  if (norm.some((x) => s[x] !== 1)) return undefined;
  return s.filter((_, i) => !norm.includes(i));
}

export function unsqueezeShape(s: Shape, axes: number[]): number[] {
  const rank = s.length + axes.length;
  const norm = axes.map((x) => (x < 0 ? x + rank : x));
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : s[j++]);
  return out;
}

/** Numpy broadcasting with the batch marker: BATCH meets BATCH or 1. */
export function broadcastShape(a: Shape, b: Shape): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else return undefined;
  }
  return out;
}

export function broadcastApply(da: Shape, a: number[], db: Shape, b: number[], out: Shape, f: (p: number, q: number) => number): number[] {
  const rank = out.length;
  const count = out.reduce((p, d) => p * d, 1);
  const result = new Array<number>(count);
  const index = (dims: Shape, flat: number) => {
    let offset = 0;
    let stride = 1;
    let rest = flat;
    const coords: number[] = [];
    for (let i = rank - 1; i >= 0; i--) {
      coords[i] = rest % out[i];
      rest = Math.floor(rest / out[i]);
    }
    for (let i = dims.length - 1; i >= 0; i--) {
      const c = coords[rank - dims.length + i];
      offset += (dims[i] === 1 ? 0 : c) * stride;
      stride *= dims[i];
    }
    return offset;
  };
  for (let i = 0; i < count; i++) result[i] = f(a[index(da, i)], b[index(db, i)]);
  return result;
}
