/**
 * Each canonical operator written as ONNX nodes: its forward pass, and its backward pass — the
 * gradients of its inputs given the gradient of its output, themselves ONNX operators that
 * onnxruntime's CPU kernels run (a convolution's input gradient is a ConvTranspose with the same
 * kernel, its weight gradient a convolution of the batch-transposed input by the batch-transposed
 * output gradient; MaxPool's gradient goes to each window's argmax through its indices).
 */
import { BATCH, UnsupportedGraphError, type GraphNode, type Shape } from './ir.js';
import { float, type GraphWriter } from './writer.js';

/** What emitting a node needs to know about the graph around it. */
export interface EmitContext {
  readonly g: GraphWriter;
  /** The shape of a value of the source graph (input, node output or weight). */
  shape(name: string): Shape;
  /** Values saved by the forward pass for the backward pass (MaxPool's indices), by node name. */
  readonly saved: Map<string, string>;
  /** Whether the forward pass must save what the backward pass needs. */
  readonly forGradient: boolean;
}

const num = (v: unknown): number => v as number;
const nums = (v: unknown): number[] => [...(v as number[])];
/** A Reshape target: the batch dimension as −1 (every other dimension is known). */
const target = (shape: Shape): number[] => shape.map((d) => (d === BATCH ? -1 : d));
/** Slice's "to the end" (INT64_MAX is what exporters write; any bound past the end works). */
const TO_END = 2 ** 53 - 1;

/** Writes the forward pass of `node` (its outputs keep their names). */
export function emitForward(node: GraphNode, ctx: EmitContext): void {
  const { g } = ctx;
  const [x] = node.inputs;
  const out = [node.outputs[0]];
  const a = node.attrs;
  switch (node.op) {
    case 'Conv':
      g.node('Conv', node.inputs, { kernel_shape: nums(a.kernel), strides: nums(a.strides), dilations: nums(a.dilations), pads: nums(a.pads), group: num(a.group) }, out);
      return;
    case 'BatchNormalization':
      g.node('BatchNormalization', node.inputs, { epsilon: float(num(a.epsilon)) }, out);
      return;
    case 'Relu':
    case 'Sigmoid':
    case 'Tanh':
    case 'HardSwish':
    case 'GlobalAveragePool':
      g.node(node.op, [x], {}, out);
      return;
    case 'LeakyRelu':
      g.node('LeakyRelu', [x], { alpha: float(num(a.alpha)) }, out);
      return;
    case 'HardSigmoid':
      g.node('HardSigmoid', [x], { alpha: float(num(a.alpha)), beta: float(num(a.beta)) }, out);
      return;
    case 'PRelu':
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'MatMul':
      g.node(node.op, node.inputs, {}, out);
      return;
    case 'Clip':
      g.node('Clip', [x, g.scalar(num(a.min)), g.scalar(num(a.max))], {}, out);
      return;
    case 'MaxPool': {
      const attrs = { kernel_shape: nums(a.kernel), strides: nums(a.strides), pads: nums(a.pads), dilations: nums(a.dilations), ceil_mode: num(a.ceil) };
      if (ctx.forGradient) {
        const indices = g.name('argmax');
        g.node('MaxPool', [x], attrs, [out[0], indices]);
        ctx.saved.set(node.name, indices);
      } else g.node('MaxPool', [x], attrs, out);
      return;
    }
    case 'AveragePool':
      g.node('AveragePool', [x], { kernel_shape: nums(a.kernel), strides: nums(a.strides), pads: nums(a.pads), ceil_mode: num(a.ceil), count_include_pad: num(a.countIncludePad) }, out);
      return;
    case 'ReduceMean':
      g.node('ReduceMean', [x], { axes: nums(a.axes), keepdims: num(a.keepdims) }, out);
      return;
    case 'Reshape':
      g.node('Reshape', [x, g.ints(target(nums(a.shape)))], {}, out);
      return;
    case 'Transpose':
      g.node('Transpose', [x], { perm: nums(a.perm) }, out);
      return;
    case 'Concat':
      g.node('Concat', node.inputs, { axis: num(a.axis) }, out);
      return;
    case 'Gemm':
      g.node('Gemm', node.inputs, { alpha: float(num(a.alpha)), beta: float(num(a.beta)), transB: num(a.transB) }, out);
      return;
    case 'Softmax':
    case 'LogSoftmax':
      g.node(node.op, [x], { axis: num(a.axis) }, out);
      return;
    case 'Pad':
      g.node('Pad', [x, g.ints(nums(a.pads)), g.scalar(num(a.value))], { mode: 'constant' }, out);
      return;
    case 'Dropout':
      g.node('Identity', [x], {}, out);
      return;
    case 'Sqrt':
      g.node('Sqrt', [x], {}, out);
      return;
    case 'Constant':
      g.floats([num(a.value)], [], out[0]);
      return;
    default:
      throw new UnsupportedGraphError(`node '${node.name}': no forward rule for ${node.op}`);
  }
}

/**
 * Writes the backward pass of `node`: given `dy` (the gradient of its output), the gradient of each
 * input whose `need` is true (undefined for the others).
 */
export function emitBackward(node: GraphNode, dy: string, need: readonly boolean[], ctx: EmitContext): (string | undefined)[] {
  const { g } = ctx;
  const a = node.attrs;
  const [x] = node.inputs;
  const y = node.outputs[0];
  const xs = ctx.shape(x);
  const ys = ctx.shape(y);
  const grads: (string | undefined)[] = node.inputs.map(() => undefined);
  const reduceTo = (d: string, from: Shape, to: Shape) => reduceToShape(g, d, from, to);
  switch (node.op) {
    case 'Conv':
      return convBackward(node, dy, need, ctx);
    case 'BatchNormalization': {
      const [, scale, , mean, variance] = node.inputs;
      const c = xs[1];
      const channel = xs.map((_, i) => (i === 1 ? c : 1));
      const axes = xs.map((_, i) => i).filter((i) => i !== 1);
      const invStd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(num(a.epsilon))])])]);
      const invStdC = g.op('Reshape', [invStd, g.ints(channel)]);
      if (need[0]) grads[0] = g.op('Mul', [dy, g.op('Reshape', [g.op('Mul', [scale, invStd]), g.ints(channel)])]);
      if (need[1]) {
        const xhat = g.op('Mul', [g.op('Sub', [x, g.op('Reshape', [mean, g.ints(channel)])]), invStdC]);
        grads[1] = g.op('ReduceSum', [g.op('Mul', [dy, xhat]), g.ints(axes)], { keepdims: 0 });
      }
      if (need[2]) grads[2] = g.op('ReduceSum', [dy, g.ints(axes)], { keepdims: 0 });
      if (need[3] || need[4]) throw new UnsupportedGraphError(`node '${node.name}': BatchNorm statistics are not differentiable here`);
      return grads;
    }
    case 'Relu':
      // y ≥ 0, so Sign(y) is the 0/1 mask of the active units (faster than Where in onnxruntime).
      grads[0] = g.op('Mul', [dy, g.op('Sign', [y])]);
      return grads;
    case 'LeakyRelu':
      grads[0] = g.op('Mul', [dy, g.op('Where', [g.op('Greater', [x, g.scalar(0)]), g.scalar(1), g.scalar(num(a.alpha))])]);
      return grads;
    case 'PRelu': {
      const [, slope] = node.inputs;
      const positive = g.op('Greater', [x, g.scalar(0)]);
      if (need[0]) grads[0] = g.op('Mul', [dy, g.op('Where', [positive, g.scalar(1), slope])]);
      if (need[1]) grads[1] = reduceTo(g.op('Mul', [dy, g.op('Where', [positive, g.scalar(0), x])]), xs, ctx.shape(slope));
      return grads;
    }
    case 'Clip': {
      // Inside the open interval, as PyTorch's hardtanh (ReLU6) passes the gradient.
      const inside = g.op('And', [g.op('Greater', [x, g.scalar(num(a.min))]), g.op('Less', [x, g.scalar(num(a.max))])]);
      grads[0] = g.op('Where', [inside, dy, g.scalar(0)]);
      return grads;
    }
    case 'Sigmoid':
      grads[0] = g.op('Mul', [dy, g.op('Mul', [y, g.op('Sub', [g.scalar(1), y])])]);
      return grads;
    case 'Tanh':
      grads[0] = g.op('Mul', [dy, g.op('Sub', [g.scalar(1), g.op('Mul', [y, y])])]);
      return grads;
    case 'HardSigmoid': {
      const t = g.op('Add', [g.op('Mul', [x, g.scalar(num(a.alpha))]), g.scalar(num(a.beta))]);
      const inside = g.op('And', [g.op('Greater', [t, g.scalar(0)]), g.op('Less', [t, g.scalar(1)])]);
      grads[0] = g.op('Where', [inside, g.op('Mul', [dy, g.scalar(num(a.alpha))]), g.scalar(0)]);
      return grads;
    }
    case 'HardSwish': {
      // y = x·relu6(x + 3)/6: dy/dx = 0 below −3, x/3 + 1/2 inside, 1 above 3 (PyTorch's rule).
      const slope = g.op('Add', [g.op('Mul', [x, g.scalar(1 / 3)]), g.scalar(0.5)]);
      const inner = g.op('Where', [g.op('Less', [x, g.scalar(-3)]), g.scalar(0), slope]);
      grads[0] = g.op('Mul', [dy, g.op('Where', [g.op('Greater', [x, g.scalar(3)]), g.scalar(1), inner])]);
      return grads;
    }
    case 'Add':
    case 'Sub': {
      const [p, q] = node.inputs;
      if (need[0]) grads[0] = reduceTo(dy, ys, ctx.shape(p));
      if (need[1]) {
        const d = reduceTo(dy, ys, ctx.shape(q));
        grads[1] = node.op === 'Sub' ? g.op('Neg', [d]) : d;
      }
      return grads;
    }
    case 'Mul': {
      const [p, q] = node.inputs;
      if (need[0]) grads[0] = reduceTo(g.op('Mul', [dy, q]), ys, ctx.shape(p));
      if (need[1]) grads[1] = reduceTo(g.op('Mul', [dy, p]), ys, ctx.shape(q));
      return grads;
    }
    case 'Div': {
      const [p, q] = node.inputs;
      if (need[0]) grads[0] = reduceTo(g.op('Div', [dy, q]), ys, ctx.shape(p));
      if (need[1]) grads[1] = reduceTo(g.op('Neg', [g.op('Div', [g.op('Mul', [dy, y]), q])]), ys, ctx.shape(q));
      return grads;
    }
    case 'MaxPool':
      grads[0] = maxPoolBackward(node, dy, ctx);
      return grads;
    case 'AveragePool':
      grads[0] = averagePoolBackward(node, dy, ctx);
      return grads;
    case 'GlobalAveragePool':
      grads[0] = g.op('Expand', [g.op('Mul', [dy, g.scalar(1 / (xs[2] * xs[3]))]), g.op('Shape', [x])]);
      return grads;
    case 'ReduceMean': {
      const axes = nums(a.axes);
      const kept = xs.map((d, i) => (axes.includes(i) ? 1 : d));
      // Over the batch (train-mode BatchNorm), the count is known only when the graph runs.
      const inverseCount = axes.some((i) => xs[i] === BATCH)
        ? g.op('Div', [g.op('Cast', [g.op('Size', [y])], { to: 1 }), g.op('Cast', [g.op('Size', [x])], { to: 1 })])
        : g.scalar(1 / axes.reduce((p, i) => p * xs[i], 1));
      grads[0] = g.op('Expand', [g.op('Mul', [g.op('Reshape', [dy, g.ints(target(kept))]), inverseCount]), g.op('Shape', [x])]);
      return grads;
    }
    case 'Dropout':
      grads[0] = dy;
      return grads;
    case 'Sqrt':
      grads[0] = g.op('Div', [g.op('Mul', [dy, g.scalar(0.5)]), y]);
      return grads;
    case 'Reshape':
      grads[0] = g.op('Reshape', [dy, g.ints(target(xs))]);
      return grads;
    case 'Transpose': {
      const perm = nums(a.perm);
      const inverse = perm.map((_, i) => perm.indexOf(i));
      grads[0] = g.op('Transpose', [dy], { perm: inverse });
      return grads;
    }
    case 'Concat': {
      const axis = num(a.axis);
      const sizes = node.inputs.map((i) => ctx.shape(i)[axis]);
      const parts = g.node('Split', [dy, g.ints(sizes)], { axis }, node.inputs.length);
      return node.inputs.map((_, i) => (need[i] ? parts[i] : undefined));
    }
    case 'Gemm': {
      const [p, q, r] = node.inputs;
      const alpha = num(a.alpha);
      const transB = num(a.transB);
      // y = α·p·B' + β·r with B' = q or qᵀ: dp = α·dy·B'ᵀ; dB' = α·pᵀ·dy.
      if (need[0]) grads[0] = g.op('Gemm', [dy, q], { alpha: float(alpha), transB: 1 - transB });
      if (need[1]) grads[1] = transB ? g.op('Gemm', [dy, p], { alpha: float(alpha), transA: 1 }) : g.op('Gemm', [p, dy], { alpha: float(alpha), transA: 1 });
      if (r !== undefined && need[2]) grads[2] = reduceTo(g.op('Mul', [dy, g.scalar(num(a.beta))]), ys, ctx.shape(r));
      return grads;
    }
    case 'MatMul': {
      const [p, q] = node.inputs;
      const [k, m] = ctx.shape(q);
      if (need[0]) grads[0] = g.op('MatMul', [dy, g.op('Transpose', [q], { perm: [1, 0] })]);
      if (need[1]) grads[1] = g.op('Gemm', [g.op('Reshape', [p, g.ints([-1, k])]), g.op('Reshape', [dy, g.ints([-1, m])])], { transA: 1 });
      return grads;
    }
    case 'Softmax': {
      const axis = num(a.axis);
      grads[0] = g.op('Mul', [y, g.op('Sub', [dy, g.op('ReduceSum', [g.op('Mul', [dy, y]), g.ints([axis])], { keepdims: 1 })])]);
      return grads;
    }
    case 'LogSoftmax': {
      const axis = num(a.axis);
      grads[0] = g.op('Sub', [dy, g.op('Mul', [g.op('Exp', [y]), g.op('ReduceSum', [dy, g.ints([axis])], { keepdims: 1 })])]);
      return grads;
    }
    case 'Pad': {
      const pads = nums(a.pads);
      const axes = xs.map((_, i) => i).filter((i) => xs[i] !== BATCH);
      grads[0] = g.op('Slice', [dy, g.ints(axes.map((i) => pads[i])), g.ints(axes.map((i) => pads[i] + xs[i])), g.ints(axes)]);
      return grads;
    }
    default:
      throw new UnsupportedGraphError(`node '${node.name}': no backward rule for ${node.op}`);
  }
}

/** Sums a broadcast gradient back to the shape of the operand it came from. */
function reduceToShape(g: GraphWriter, d: string, from: Shape, to: Shape): string {
  if (from.length === to.length && from.every((v, i) => v === to[i])) return d;
  const offset = from.length - to.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    const t = i < offset ? undefined : to[i - offset];
    if (t === undefined || (t === 1 && from[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? g.op('ReduceSum', [d, g.ints(axes)], { keepdims: 1 }) : d;
  return g.op('Reshape', [summed, g.ints(target(to))]);
}

/**
 * Pads for a ConvTranspose that undoes a strided window pass: the leading pad as the forward's,
 * and whatever trailing pad (cropping) or output padding makes the output exactly `size` long.
 */
function transposePads(size: number, out: number, stride: number, span: number, before: number): { end: number; outputPadding: number } {
  const excess = stride * (out - 1) + span - before - size;
  return excess >= 0 ? { end: excess, outputPadding: 0 } : { end: 0, outputPadding: -excess };
}

function convBackward(node: GraphNode, dy: string, need: readonly boolean[], ctx: EmitContext): (string | undefined)[] {
  const { g } = ctx;
  const [x, w, b] = node.inputs;
  const xs = ctx.shape(x);
  const ys = ctx.shape(node.outputs[0]);
  const [kh, kw] = nums(node.attrs.kernel);
  const strides = nums(node.attrs.strides);
  const dilations = nums(node.attrs.dilations);
  const pads = nums(node.attrs.pads);
  const group = num(node.attrs.group);
  const [, c, h, wd] = xs;
  const [, m, oh, ow] = ys;
  const grads: (string | undefined)[] = node.inputs.map(() => undefined);
  if (need[0]) {
    const plain = group === 1 && strides.every((s) => s === 1) && dilations.every((d) => d === 1);
    if (plain && c >= 8 && Math.max(pads[0], pads[2]) <= kh - 1 && Math.max(pads[1], pads[3]) <= kw - 1) {
      // Stride 1: dx is a plain convolution of dy with the flipped kernel, channels swapped
      // ([C, M, kh, kw]), padded by k − 1 − p: onnxruntime's fastest path (its blocked
      // convolution), except with few input channels (an image's 1 or 3), where ConvTranspose's
      // single matrix product wins (MNIST net: 8.6 → 5.3 ms per batch of 32).
      const flipped = g.op('Slice', [g.op('Transpose', [w], { perm: [1, 0, 2, 3] }), g.ints([-1, -1]), g.ints([-TO_END, -TO_END]), g.ints([2, 3]), g.ints([-1, -1])]);
      const backPads = [kh - 1 - pads[0], kw - 1 - pads[1], kh - 1 - pads[2], kw - 1 - pads[3]];
      // The trailing rows/columns the forward pass never read (valid padding) get no gradient.
      const extraH = h - (oh - 1 + kh - pads[0] - pads[2]);
      const extraW = wd - (ow - 1 + kw - pads[1] - pads[3]);
      backPads[2] += extraH;
      backPads[3] += extraW;
      grads[0] = g.op('Conv', [dy, flipped], { kernel_shape: [kh, kw], pads: backPads });
    } else {
      const ph = transposePads(h, oh, strides[0], dilations[0] * (kh - 1) + 1, pads[0]);
      const pw = transposePads(wd, ow, strides[1], dilations[1] * (kw - 1) + 1, pads[1]);
      grads[0] = g.op('ConvTranspose', [dy, w], {
        kernel_shape: [kh, kw],
        strides,
        dilations,
        group,
        pads: [pads[0], pads[1], ph.end, pw.end],
        output_padding: [ph.outputPadding, pw.outputPadding],
      });
    }
  }
  if (need[1]) {
    // dW[o, i, r, s] = Σ_n,y,x dy[n, o, y, x]·x[n, i, y·s + r·d − p, ...]: a convolution of the
    // input with the batch as channels by the output gradient as kernel (stride and dilation
    // swap roles), one per group, then cropped to the kernel's size.
    const cpg = c / group;
    const mpg = m / group;
    const xT =
      group === 1
        ? g.op('Transpose', [x], { perm: [1, 0, 2, 3] })
        : g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [x, g.ints([-1, group, cpg, h, wd])])], { perm: [2, 1, 0, 3, 4] }), g.ints([cpg, -1, h, wd])]);
    const dyT =
      group === 1
        ? g.op('Transpose', [dy], { perm: [1, 0, 2, 3] })
        : g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [dy, g.ints([-1, group, mpg, oh, ow])])], { perm: [1, 2, 0, 3, 4] }), g.ints([m, -1, oh, ow])]);
    const full = g.op('Conv', [xT, dyT], { kernel_shape: [oh, ow], strides: dilations, dilations: strides, pads, group });
    const fullH = Math.floor((h + pads[0] + pads[2] - strides[0] * (oh - 1) - 1) / dilations[0]) + 1;
    const fullW = Math.floor((wd + pads[1] + pads[3] - strides[1] * (ow - 1) - 1) / dilations[1]) + 1;
    const cropped = fullH === kh && fullW === kw ? full : g.op('Slice', [full, g.ints([0, 0]), g.ints([kh, kw]), g.ints([2, 3])]);
    grads[1] = g.op('Transpose', [cropped], { perm: [1, 0, 2, 3] });
  }
  if (b !== undefined && need[2]) grads[2] = g.op('ReduceSum', [dy, g.ints([0, 2, 3])], { keepdims: 0 });
  return grads;
}

function maxPoolBackward(node: GraphNode, dy: string, ctx: EmitContext): string {
  const { g } = ctx;
  const x = node.inputs[0];
  const indices = ctx.saved.get(node.name);
  if (indices === undefined) throw new UnsupportedGraphError(`node '${node.name}': MaxPool's indices were not saved`);
  const k = nums(node.attrs.kernel);
  const s = nums(node.attrs.strides);
  const d = nums(node.attrs.dilations);
  const overlapping = k.some((ki, i) => d[i] * (ki - 1) + 1 > s[i]);
  if (!overlapping) {
    // Windows that do not overlap: each input position is the argmax of one window at most.
    // MaxUnpool refuses an output smaller than (out − 1)·s + k − pads, which a ceil_mode window
    // past the input's edge makes; the excess goes to the trailing pads (they only size the check).
    const pads = nums(node.attrs.pads);
    const [, , h, w] = ctx.shape(x);
    const [, , oh, ow] = ctx.shape(node.outputs[0]);
    pads[2] += Math.max(0, (oh - 1) * s[0] + k[0] - pads[0] - pads[2] - h);
    pads[3] += Math.max(0, (ow - 1) * s[1] + k[1] - pads[1] - pads[3] - w);
    return g.op('MaxUnpool', [dy, indices, g.op('Shape', [x])], { kernel_shape: k, strides: s, pads });
  }
  // Overlapping windows (3x3 stride 2): one position can win several windows; add them up.
  const flatShape = g.op('Shape', [g.op('Reshape', [x, g.ints([-1])])]);
  const zeros = g.op('ConstantOfShape', [flatShape]);
  const summed = g.op('ScatterElements', [zeros, g.op('Reshape', [indices, g.ints([-1])]), g.op('Reshape', [dy, g.ints([-1])])], { axis: 0, reduction: 'add' });
  return g.op('Reshape', [summed, g.op('Shape', [x])]);
}

function averagePoolBackward(node: GraphNode, dy: string, ctx: EmitContext): string {
  const { g } = ctx;
  const x = node.inputs[0];
  const [, c, h, w] = ctx.shape(x);
  const [, , oh, ow] = ctx.shape(node.outputs[0]);
  const k = nums(node.attrs.kernel);
  const s = nums(node.attrs.strides);
  const p = nums(node.attrs.pads);
  const includePad = num(node.attrs.countIncludePad) === 1;
  // Each window's divisor: its positions inside the input (or inside the padded input when
  // count_include_pad), as onnxruntime and PyTorch count them, also for ceil_mode's last window.
  const counts = new Float32Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    for (let j = 0; j < ow; j++) {
      const span = (start: number, size: number, before: number, after: number, kk: number) => {
        const lo = includePad ? -before : 0;
        const hi = includePad ? size + after : size;
        return Math.max(0, Math.min(start + kk, hi) - Math.max(start, lo));
      };
      counts[i * ow + j] = 1 / (span(i * s[0] - p[0], h, p[0], p[2], k[0]) * span(j * s[1] - p[1], w, p[1], p[3], k[1]));
    }
  }
  const scaled = g.op('Mul', [dy, g.floats(counts, [1, 1, oh, ow])]);
  const ones = g.floats(new Float32Array(c * k[0] * k[1]).fill(1), [c, 1, k[0], k[1]]);
  const ph = transposePads(h, oh, s[0], k[0], p[0]);
  const pw = transposePads(w, ow, s[1], k[1], p[1]);
  return g.op('ConvTranspose', [scaled, ones], {
    kernel_shape: k,
    strides: s,
    group: c,
    pads: [p[0], p[1], ph.end, pw.end],
    output_padding: [ph.outputPadding, pw.outputPadding],
  });
}
