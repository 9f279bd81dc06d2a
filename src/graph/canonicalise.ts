/**
 * The canonical graph built node by node from an ONNX graph: constants folded (fold.ts), every
 * operator rewritten to its one canonical spelling (ir.ts) with its attributes' ONNX defaults,
 * auto_pad resolved, and every value's shape inferred with the batch size left open.
 */
import {
  BATCH,
  defaultTrainable,
  formatShape,
  ONNX_BATCH_NORM_MOMENTUM,
  perItemCount,
  unsupportedOp,
  UnsupportedGraphError,
  type Attribute,
  type CanonicalOp,
  type ClassifierGraph,
  type FloatTensor,
  type GraphNode,
  type RunningVariance,
  type Shape,
} from './ir.js';
import { constantValue, foldConstant } from './fold.js';
import { DT, NodeAttributes, SYM_N, type Const, type NodeProto } from './onnx-values.js';
import { broadcastShape, squeezeShape, unsqueezeShape } from './shape-rules.js';

/** Builds the canonical graph node by node. */
export class Canonicaliser {
  readonly shapes = new Map<string, Shape>();
  readonly nodes: GraphNode[] = [];
  private readonly alias = new Map<string, string>();
  private readonly names = new Set<string>();

  /** `runningVariance`: how the graph's framework trains its BatchNorms (onnx-load.ts decides it from the file's producer). */
  constructor(
    private readonly file: string,
    private readonly opset: number,
    private readonly consts: Map<string, Const>,
    private readonly runningVariance: RunningVariance,
  ) {}

  private resolve(name: string): string {
    return this.alias.get(name) ?? name;
  }

  private fail(node: NodeProto, problem: string): never {
    throw new UnsupportedGraphError(`${this.file}: node '${node.name || node.opType}' (${node.opType}): ${problem}`);
  }

  /** The values of a constant input (shape arithmetic, bounds), or an error. */
  private constInput(node: NodeProto, name: string, what: string): number[] {
    const c = this.consts.get(this.resolve(name));
    if (!c) this.fail(node, `its ${what} must be a constant`);
    return Array.from(c.data);
  }

  private shapeOf(node: NodeProto, name: string): Shape {
    const s = this.shapes.get(this.resolve(name));
    if (!s) {
      if (this.consts.has(this.resolve(name))) return this.consts.get(this.resolve(name))!.dims;
      this.fail(node, `input '${name}' has no known shape`);
    }
    return s;
  }

  /** A float constant used by a runtime node becomes a weight. */
  private weight(name: string): string {
    const r = this.resolve(name);
    const c = this.consts.get(r);
    if (c?.kind === 'int') this.consts.set(r, { kind: 'float', dims: c.dims, data: Float32Array.from(c.data) });
    return r;
  }

  private isConst(name: string): boolean {
    return name === '' || this.consts.has(this.resolve(name));
  }

  private emit(node: NodeProto, op: CanonicalOp, inputs: string[], attrs: Record<string, Attribute>, outShape: Shape, extraOutputs: string[] = []): void {
    let name = node.name || `${node.opType}_${this.nodes.length}`;
    while (this.names.has(name)) name += '_';
    this.names.add(name);
    const out = node.output![0];
    const resolved = inputs.map((i) => (this.consts.has(this.resolve(i)) ? this.weight(i) : this.resolve(i)));
    this.nodes.push({ name, op, inputs: resolved, outputs: [out, ...extraOutputs], attrs });
    this.shapes.set(out, outShape);
  }

  add(node: NodeProto): void {
    const op = node.opType ?? '';
    const ins = (node.input ?? []).map((i) => (i === '' ? '' : this.resolve(i)));
    const outs = node.output ?? [];
    const a = new NodeAttributes(node, this.file);
    const present = ins.filter((i) => i !== '');
    if (op === 'Constant') {
      this.consts.set(outs[0], constantValue(a) ?? this.fail(node, 'a Constant without a value the engine reads'));
      return;
    }
    if (op === 'Shape') {
      const s = this.shapeOf(node, ins[0]);
      let start = a.int('start', 0);
      let end = a.int('end', s.length);
      if (start < 0) start += s.length;
      if (end < 0) end += s.length;
      const dims = s.slice(Math.max(0, start), Math.min(s.length, end)).map((d) => (d === BATCH ? SYM_N : d));
      this.consts.set(outs[0], { kind: 'int', dims: [dims.length], data: dims });
      return;
    }
    if (present.every((i) => this.consts.has(i)) && present.length > 0 && op !== 'Conv' && op !== 'Gemm') {
      const folded = foldConstant(op, ins, a, { consts: this.consts, opset: this.opset, fail: (problem) => this.fail(node, problem) });
      if (folded) {
        this.consts.set(outs[0], folded);
        return;
      }
    }
    switch (op) {
      case 'Identity':
      case 'Dropout':
        if (outs.length > 1 && outs[1] !== '') this.fail(node, 'its mask output is used (training-mode Dropout)');
        this.alias.set(outs[0], ins[0]);
        return;
      case 'Cast': {
        const to = a.int('to', DT.FLOAT);
        if (to !== DT.FLOAT) this.fail(node, `casts a float tensor to type ${to}`);
        this.alias.set(outs[0], ins[0]);
        return;
      }
      case 'Flatten': {
        const s = this.shapeOf(node, ins[0]);
        let axis = a.int('axis', 1);
        if (axis < 0) axis += s.length;
        const outer = s.slice(0, axis);
        const inner = s.slice(axis);
        const target = [this.mergeDims(node, outer), this.mergeDims(node, inner)];
        this.emit(node, 'Reshape', [ins[0]], { shape: target }, target);
        return;
      }
      case 'Reshape': {
        const s = this.shapeOf(node, ins[0]);
        const target = this.constInput(node, ins[1], 'target shape');
        const allowZero = a.int('allowzero', 0);
        const shape = this.reshapeTarget(node, s, target, allowZero === 1);
        this.emit(node, 'Reshape', [ins[0]], { shape }, shape);
        return;
      }
      case 'Squeeze':
      case 'Unsqueeze': {
        const s = this.shapeOf(node, ins[0]);
        const axes = this.opset >= 13 && ins[1] ? this.constInput(node, ins[1], 'axes') : a.ints('axes');
        const shape = op === 'Squeeze' ? squeezeShape(s, axes) : unsqueezeShape(s, axes ?? this.fail(node, 'no axes'));
        if (shape === undefined) this.fail(node, `squeezes a dimension that is not 1 in ${formatShape(s)}`);
        this.emit(node, 'Reshape', [ins[0]], { shape }, shape);
        return;
      }
      case 'Conv':
        return this.conv(node, ins, a);
      case 'BatchNormalization': {
        if (outs.slice(1).some((o) => o !== '')) this.fail(node, 'training-mode BatchNormalization (running statistics as outputs)');
        if (a.int('training_mode', 0) !== 0) this.fail(node, 'training_mode = 1');
        if (!ins.slice(1, 5).every((i) => this.isConst(i))) this.fail(node, 'its scale, bias, mean and variance must be constants');
        const s = this.shapeOf(node, ins[0]);
        const c = s[1];
        for (const i of ins.slice(1, 5)) if (perItemCount(this.shapeOf(node, i)) !== c) this.fail(node, `a parameter's size is not the ${c} channels`);
        const training = { momentum: a.decimal('momentum', ONNX_BATCH_NORM_MOMENTUM), runningVariance: this.runningVariance };
        this.emit(node, 'BatchNormalization', ins.slice(0, 5), { epsilon: a.float('epsilon', 1e-5), ...training }, s);
        return;
      }
      case 'Relu':
      case 'Sigmoid':
      case 'Tanh':
      case 'HardSwish':
        this.emit(node, op, [ins[0]], {}, this.shapeOf(node, ins[0]));
        return;
      case 'LeakyRelu':
        this.emit(node, op, [ins[0]], { alpha: a.float('alpha', 0.01) }, this.shapeOf(node, ins[0]));
        return;
      case 'HardSigmoid':
        this.emit(node, op, [ins[0]], { alpha: a.float('alpha', 0.2), beta: a.float('beta', 0.5) }, this.shapeOf(node, ins[0]));
        return;
      case 'PRelu': {
        if (!this.isConst(ins[1])) this.fail(node, 'its slope must be a constant');
        const s = this.shapeOf(node, ins[0]);
        if (broadcastShape(s, this.shapeOf(node, ins[1])) === undefined) this.fail(node, 'slope does not broadcast to the input');
        this.emit(node, 'PRelu', [ins[0], ins[1]], {}, s);
        return;
      }
      case 'Clip': {
        let min = -Infinity;
        let max = Infinity;
        if (this.opset < 11) {
          min = a.float('min', -Infinity);
          max = a.float('max', Infinity);
        } else {
          if (ins[1]) min = this.scalarInput(node, ins[1], 'min');
          if (ins[2]) max = this.scalarInput(node, ins[2], 'max');
        }
        this.emit(node, 'Clip', [ins[0]], { min: finiteOr(min, -3.4e38), max: finiteOr(max, 3.4e38) }, this.shapeOf(node, ins[0]));
        return;
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        const sa = this.shapeOf(node, ins[0]);
        const sb = this.shapeOf(node, ins[1]);
        const s = broadcastShape(sa, sb);
        if (s === undefined) this.fail(node, `shapes ${formatShape(sa)} and ${formatShape(sb)} do not broadcast`);
        this.emit(node, op, [ins[0], ins[1]], {}, s);
        return;
      }
      case 'MaxPool':
      case 'AveragePool':
        return this.pool(node, op, ins, a);
      case 'GlobalAveragePool': {
        const s = this.shapeOf(node, ins[0]);
        if (s.length !== 4) this.fail(node, `input of rank ${s.length}`);
        this.emit(node, 'GlobalAveragePool', [ins[0]], {}, [s[0], s[1], 1, 1]);
        return;
      }
      case 'ReduceMean': {
        const s = this.shapeOf(node, ins[0]);
        const given = this.opset >= 18 && ins[1] ? this.constInput(node, ins[1], 'axes') : a.ints('axes');
        const axes = (given === undefined || given.length === 0 ? s.map((_, i) => i) : given).map((x) => (x < 0 ? x + s.length : x)).sort((p, q) => p - q);
        if (given?.length === 0 && a.int('noop_with_empty_axes', 0) === 1) {
          this.alias.set(outs[0], ins[0]);
          return;
        }
        if (axes.includes(0) && s[0] === BATCH) this.fail(node, 'averages over the batch');
        const keepdims = a.int('keepdims', 1);
        const shape = keepdims ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i));
        this.emit(node, 'ReduceMean', [ins[0]], { axes, keepdims }, shape);
        return;
      }
      case 'Transpose': {
        const s = this.shapeOf(node, ins[0]);
        const perm = a.ints('perm') ?? s.map((_, i) => s.length - 1 - i);
        this.emit(node, 'Transpose', [ins[0]], { perm }, perm.map((p) => s[p]));
        return;
      }
      case 'Concat': {
        const shapes = ins.map((i) => this.shapeOf(node, i));
        let axis = a.int('axis', 1);
        if (axis < 0) axis += shapes[0].length;
        if (axis === 0) this.fail(node, 'concatenates along the batch');
        const out = [...shapes[0]];
        out[axis] = shapes.reduce((t, s) => t + s[axis], 0);
        for (const s of shapes) if (s.length !== out.length || s.some((d, i) => i !== axis && d !== out[i])) this.fail(node, `inputs ${shapes.map(formatShape).join(', ')} do not concatenate`);
        this.emit(node, 'Concat', ins, { axis }, out);
        return;
      }
      case 'Gemm': {
        const sa = this.shapeOf(node, ins[0]);
        const sb = this.shapeOf(node, ins[1]);
        const transA = a.int('transA', 0);
        const transB = a.int('transB', 0);
        if (sa.length !== 2 || sb.length !== 2) this.fail(node, 'inputs of rank other than 2');
        if (transA) this.fail(node, 'transA = 1 on a batched input');
        const [m, k] = sa;
        const [kb, n] = transB ? [sb[1], sb[0]] : sb;
        if (k !== kb) this.fail(node, `inner sizes ${k} and ${kb} differ`);
        if (ins[2] && broadcastShape([m, n], this.shapeOf(node, ins[2]))?.join() !== [m, n].join()) this.fail(node, 'C does not broadcast to the output');
        const attrs = { alpha: a.float('alpha', 1), beta: a.float('beta', 1), transB };
        this.emit(node, 'Gemm', ins.filter((i) => i !== ''), attrs, [m, n]);
        return;
      }
      case 'MatMul': {
        const sa = this.shapeOf(node, ins[0]);
        const sb = this.shapeOf(node, ins[1]);
        if (sb.length !== 2 || sa.length < 2 || sb.includes(BATCH)) this.fail(node, `shapes ${formatShape(sa)} x ${formatShape(sb)} (the engine takes [..., K] x [K, M])`);
        if (sa[sa.length - 1] !== sb[0]) this.fail(node, `inner sizes ${sa[sa.length - 1]} and ${sb[0]} differ`);
        this.emit(node, 'MatMul', [ins[0], ins[1]], {}, [...sa.slice(0, -1), sb[1]]);
        return;
      }
      case 'Softmax':
      case 'LogSoftmax': {
        const s = this.shapeOf(node, ins[0]);
        let axis = a.int('axis', this.opset >= 13 ? -1 : 1);
        if (axis < 0) axis += s.length;
        if (this.opset < 13 && axis !== s.length - 1) this.fail(node, `axis ${axis} of a rank-${s.length} input (opset < 13 flattens; only the last axis is taken)`);
        this.emit(node, op, [ins[0]], { axis }, s);
        return;
      }
      case 'Pad': {
        const s = this.shapeOf(node, ins[0]);
        const mode = a.string('mode', 'constant');
        if (mode !== 'constant') this.fail(node, `mode '${mode}' (the engine pads with a constant)`);
        let pads = this.opset >= 11 ? this.constInput(node, ins[1], 'pads') : (a.ints('pads') ?? []);
        const value = this.opset >= 11 ? (ins[2] ? this.scalarInput(node, ins[2], 'constant value') : 0) : a.float('value', 0);
        if (ins[3]) {
          const axes = this.constInput(node, ins[3], 'axes').map((x) => (x < 0 ? x + s.length : x));
          const full = new Array<number>(2 * s.length).fill(0);
          axes.forEach((ax, j) => {
            full[ax] = pads[j];
            full[ax + s.length] = pads[j + axes.length];
          });
          pads = full;
        }
        if (pads.length !== 2 * s.length || pads.some((p) => p < 0)) this.fail(node, `pads [${pads.join(', ')}] (non-negative, two per dimension)`);
        if (pads[0] !== 0 || pads[s.length] !== 0) this.fail(node, 'pads the batch dimension');
        this.emit(node, 'Pad', [ins[0]], { pads, value }, s.map((d, i) => (d === BATCH ? d : d + pads[i] + pads[i + s.length])));
        return;
      }
      default:
        throw unsupportedOp({ name: node.name || `${op}_${this.nodes.length}`, opType: op });
    }
  }

  private scalarInput(node: NodeProto, name: string, what: string): number {
    const v = this.constInput(node, name, what);
    if (v.length !== 1) this.fail(node, `its ${what} must be a scalar`);
    return v[0];
  }

  private mergeDims(node: NodeProto, dims: Shape): number {
    if (dims.includes(BATCH)) {
      if (perItemCount(dims) !== 1) this.fail(node, `merges the batch with other dimensions (${formatShape(dims)})`);
      return BATCH;
    }
    return dims.reduce((p, d) => p * d, 1);
  }

  /** The output shape of Reshape(data of shape `s`, target), with the batch dimension tracked. */
  private reshapeTarget(node: NodeProto, s: Shape, target: number[], allowZero: boolean): number[] {
    type Slot = { kind: 'batch' } | { kind: 'infer' } | { kind: 'fixed'; v: number };
    const slots: Slot[] = target.map((t, i) => {
      if (t === SYM_N || (t === 0 && !allowZero && s[i] === BATCH)) return { kind: 'batch' };
      if (t === -1) return { kind: 'infer' };
      if (t === 0 && !allowZero) return { kind: 'fixed', v: s[i] };
      if (t < 0) this.fail(node, `target [${target.join(', ')}] has a negative size`);
      return { kind: 'fixed', v: t };
    });
    const batches = slots.filter((x) => x.kind === 'batch').length;
    const infers = slots.filter((x) => x.kind === 'infer').length;
    const hasBatch = s.includes(BATCH);
    const known = perItemCount(s);
    const fixed = slots.reduce((p, x) => (x.kind === 'fixed' ? p * x.v : p), 1);
    const bad = (why: string): never => this.fail(node, `cannot reshape ${formatShape(s)} to [${target.join(', ')}]: ${why}`);
    if (infers > 1 || batches > 1) bad('more than one inferred or batch dimension');
    if (batches === 1 && !hasBatch) bad('no batch dimension to keep');
    let inferred: number;
    if (hasBatch && batches === 0) {
      // The -1 must absorb the batch exactly: the fixed dimensions make one item.
      if (infers === 0 || fixed !== known) bad('the batch would be mixed with other dimensions');
      inferred = BATCH;
    } else {
      if (fixed === 0 || known % fixed !== 0) bad('sizes do not divide');
      inferred = known / fixed;
      if (infers === 0 && inferred !== 1) bad('element counts differ');
    }
    return slots.map((x) => (x.kind === 'batch' ? BATCH : x.kind === 'infer' ? inferred : x.v));
  }

  private conv(node: NodeProto, ins: string[], a: NodeAttributes): void {
    const s = this.shapeOf(node, ins[0]);
    if (!this.isConst(ins[1])) this.fail(node, 'its weights must be a constant');
    const w = this.shapeOf(node, ins[1]);
    if (s.length !== 4 || w.length !== 4) this.fail(node, `a ${s.length - 2}-D convolution (the engine takes 2-D)`);
    const group = a.int('group', 1);
    const [m, cg, kh, kw] = w;
    if (cg * group !== s[1] || m % group !== 0) this.fail(node, `weights ${formatShape(w)} with group ${group} do not fit ${s[1]} input channels`);
    const kernel = a.ints('kernel_shape') ?? [kh, kw];
    if (kernel[0] !== kh || kernel[1] !== kw) this.fail(node, 'kernel_shape differs from the weights');
    if (ins[2] && perItemCount(this.shapeOf(node, ins[2])) !== m) this.fail(node, 'bias size differs from the output channels');
    const strides = a.ints('strides') ?? [1, 1];
    const dilations = a.ints('dilations') ?? [1, 1];
    const pads = this.resolvePads(node, a, [s[2], s[3]], [kh, kw], strides, dilations);
    const out = [0, 1].map((i) => Math.floor((s[2 + i] + pads[i] + pads[i + 2] - dilations[i] * ((i ? kw : kh) - 1) - 1) / strides[i]) + 1);
    if (out.some((d) => d < 1)) this.fail(node, `the kernel does not fit the ${s[2]}x${s[3]} input`);
    this.emit(node, 'Conv', ins.filter((i) => i !== ''), { kernel: [kh, kw], strides, dilations, pads, group }, [s[0], m, out[0], out[1]]);
  }

  private resolvePads(node: NodeProto, a: NodeAttributes, size: number[], k: number[], strides: number[], dilations: number[]): number[] {
    const autoPad = a.string('auto_pad', 'NOTSET');
    if (autoPad === 'NOTSET') return a.ints('pads') ?? [0, 0, 0, 0];
    if (autoPad === 'VALID') return [0, 0, 0, 0];
    if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') this.fail(node, `auto_pad '${autoPad}'`);
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(size[i] / strides[i]);
      const total = Math.max((out - 1) * strides[i] + dilations[i] * (k[i] - 1) + 1 - size[i], 0);
      const small = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      end.push(autoPad === 'SAME_UPPER' ? total - small : small);
    }
    return [...begin, ...end];
  }

  private pool(node: NodeProto, op: 'MaxPool' | 'AveragePool', ins: string[], a: NodeAttributes): void {
    if ((node.output ?? []).length > 1 && node.output![1] !== '') this.fail(node, 'its indices output is used');
    const s = this.shapeOf(node, ins[0]);
    if (s.length !== 4) this.fail(node, `a ${s.length - 2}-D pool (the engine takes 2-D)`);
    const kernel = a.ints('kernel_shape') ?? this.fail(node, 'no kernel_shape');
    const strides = a.ints('strides') ?? [1, 1];
    const dilations = a.ints('dilations') ?? [1, 1];
    if (op === 'AveragePool' && dilations.some((d) => d !== 1)) this.fail(node, 'dilated average pooling');
    const pads = this.resolvePads(node, a, [s[2], s[3]], kernel, strides, dilations);
    const ceil = a.int('ceil_mode', 0);
    const out = [0, 1].map((i) => {
      const span = s[2 + i] + pads[i] + pads[i + 2] - dilations[i] * (kernel[i] - 1) - 1;
      let o = (ceil ? Math.ceil(span / strides[i]) : Math.floor(span / strides[i])) + 1;
      // ONNX (like PyTorch): the last window must start inside the input or its leading padding.
      if (ceil && (o - 1) * strides[i] >= s[2 + i] + pads[i]) o--;
      return o;
    });
    if (out.some((d) => d < 1)) this.fail(node, `the window does not fit the ${s[2]}x${s[3]} input`);
    const attrs: Record<string, Attribute> = { kernel, strides, pads, ceil };
    if (op === 'MaxPool') attrs.dilations = dilations;
    else attrs.countIncludePad = a.int('count_include_pad', 0);
    this.emit(node, op, [ins[0]], attrs, [s[0], s[1], out[0], out[1]]);
  }

  finish(name: string, inputName: string, outputName: string): ClassifierGraph {
    const output = this.resolve(outputName);
    // Keep only what the output depends on.
    const needed = new Set([output]);
    const kept: GraphNode[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      if (node.outputs.some((o) => needed.has(o))) {
        kept.push(node);
        for (const x of node.inputs) needed.add(x);
      }
    }
    kept.reverse();
    if (!needed.has(inputName)) throw new UnsupportedGraphError(`${this.file}: the output '${outputName}' does not depend on the input '${inputName}'`);
    const outShape = this.shapes.get(output);
    if (!outShape) throw new UnsupportedGraphError(`${this.file}: the output '${outputName}' is a constant`);
    if (outShape.length !== 2 || outShape[0] !== BATCH || outShape[1] < 2) {
      throw new UnsupportedGraphError(`${this.file}: the output '${outputName}' has shape ${formatShape(outShape)}; a classifier's is [N, classes]`);
    }
    const weights = new Map<string, FloatTensor>();
    for (const node of kept) {
      for (const i of node.inputs) {
        const c = this.consts.get(i);
        if (c) weights.set(i, { dims: c.dims, data: c.kind === 'float' ? c.data : Float32Array.from(c.data) });
      }
    }
    const shapes = new Map(this.shapes);
    for (const [k, w] of weights) shapes.set(k, w.dims);
    const last = kept[kept.length - 1];
    const endsInSoftmax = last.op === 'Softmax' && last.outputs[0] === output && last.attrs.axis === 1;
    return { name, input: { name: inputName, shape: this.shapes.get(inputName)! }, output, endsInSoftmax, nodes: kept, weights, trainable: defaultTrainable(kept, weights), shapes };
  }
}

function finiteOr(v: number, fallback: number): number {
  return Number.isFinite(v) ? v : fallback;
}
