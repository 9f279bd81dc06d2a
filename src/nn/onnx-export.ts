/**
 * A tf.layers model as an ONNX graph that computes, in one run, the model's output on a batch AND
 * the gradient of the Neural Cleanse classification loss with respect to the (preprocessed) input:
 * the forward pass of every layer, the loss's gradient at the logits, and the backward pass written
 * out op by op (for a convolution's input gradient, a convolution with the flipped kernel, or
 * ConvTranspose when strided; MaxUnpool with the forward pass's
 * argmax indices for pooling, the transposed kernel for a dense layer, the activation's derivative).
 *
 * Why: onnxruntime's CPU kernels (MLAS: AVX2/AVX-512 FMA) run these convolutions several times
 * faster per core than TensorFlow.js's WebAssembly backend (docs/BENCHMARKS.md), and a trigger
 * search needs nothing but the input gradient — no weight gradients, no training graph.
 *
 * Graph inputs: `x` [N, H, W, C] (NHWC, as TensorFlow.js feeds the model), `target` [N, K] (one-hot),
 * `scale` [1] (1/N: the loss is a mean over the batch). Outputs: `out` [N, K] (what the model
 * outputs: logits, or probabilities when it ends in softmax) and `dx` [N, H, W, C].
 *
 * Layers: InputLayer, Conv2D (channels-last, any strides, 'same' or 'valid', no dilation), MaxPooling2D,
 * Dense, Flatten, Dropout (inference: identity), Activation and ReLU; activations linear, relu, sigmoid,
 * tanh, and softmax on the last layer. Anything else throws {@link UnsupportedModelError}, and the
 * caller keeps the TensorFlow.js path.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import onnxProto from 'onnx-proto';
import { PoisonguardError } from '../errors.js';
import { KERAS_EPSILON } from './keras.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
/** Probability clip of Keras's categorical cross-entropy. */
const PROBABILITY_EPSILON = KERAS_EPSILON;

/**
 * The trigger search's classification loss (recipe.ts `loss`): the cross-entropy to the target —
 * softmax cross-entropy on logits, or Keras's on probabilities clipped to [1e-7, 1 − 1e-7] when the
 * model ends in softmax (read from the model) — or the release's swapped call
 * −mean(p_t·log(1 − 1e-7) + (1 − p_t)·log 1e-7).
 */
export type InputGradientLoss = 'cross-entropy' | 'release-swapped';

/** A model the exporter cannot write (a layer or setting it does not know). */
export class UnsupportedModelError extends PoisonguardError {
  constructor(message: string) {
    super('invalid-option', message, { path: 'model' });
  }
}

interface Dims {
  /** NCHW spatial tensor, or a flat vector. */
  c: number;
  h: number;
  w: number;
  flat: boolean;
}

/** TensorFlow's 'same' padding: [before, after] for one spatial dimension. */
function samePads(size: number, k: number, s: number): [number, number] {
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

class GraphWriter {
  readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private id = 0;

  name(prefix: string): string {
    return `${prefix}_${this.id++}`;
  }

  floats(values: Float32Array, dims: number[], prefix = 'w'): string {
    const name = this.name(prefix);
    const copy = new Float32Array(values); // its own buffer, exactly the bytes of these values
    this.initializers.push(onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: new Uint8Array(copy.buffer) }));
    return name;
  }

  ints(values: number[], prefix = 'i'): string {
    const name = this.name(prefix);
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push(onnx.TensorProto.create({ name, dims: [values.length], dataType: INT64, rawData: new Uint8Array(data.buffer) }));
    return name;
  }

  scalar(value: number): string {
    return this.floats(Float32Array.of(value), [], 'k');
  }

  node(opType: string, inputs: string[], attributes: Record<string, number | number[]> = {}, outputs = 1): string[] {
    const out = Array.from({ length: outputs }, () => this.name(opType.toLowerCase()));
    const attribute = Object.entries(attributes).map(([name, v]) =>
      Array.isArray(v)
        ? onnx.AttributeProto.create({ name, ints: v, type: onnx.AttributeProto.AttributeType.INTS })
        : onnx.AttributeProto.create({ name, i: v, type: onnx.AttributeProto.AttributeType.INT }),
    );
    this.nodes.push(onnx.NodeProto.create({ opType, input: inputs, output: out, attribute }));
    return out;
  }

  op(opType: string, inputs: string[], attributes: Record<string, number | number[]> = {}): string {
    return this.node(opType, inputs, attributes)[0];
  }
}

/** The backward step of one forward op, applied in reverse order. */
type Backward = (dy: string) => string;

function activationOf(layer: tfl.layers.Layer): string {
  const a = (layer.getConfig() as { activation?: unknown }).activation;
  return typeof a === 'string' ? a : 'linear';
}

/** The layers of a plain chain (each layer fed by the one before), without the InputLayer. */
function chainLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UnsupportedModelError(`the ONNX exporter takes one input and one output (this model has ${model.inputs.length} and ${model.outputs.length})`);
  }
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  let previous: tfl.layers.Layer | undefined;
  for (const layer of layers) {
    const nodes = (layer as unknown as { inboundNodes: { inboundLayers: tfl.layers.Layer[] }[] }).inboundNodes;
    const from = nodes[0]?.inboundLayers ?? [];
    const ok = nodes.length === 1 && from.length === 1 && (previous === undefined ? from[0].getClassName() === 'InputLayer' : from[0] === previous);
    if (!ok) throw new UnsupportedModelError(`the ONNX exporter takes a plain chain of layers; '${layer.name}' is not fed by the layer before it alone`);
    previous = layer;
  }
  return layers;
}

/**
 * Writes the model as an ONNX ModelProto (bytes) computing `out` and `dx` (see the module comment).
 * Throws {@link UnsupportedModelError} for a model it cannot write.
 */
export function exportInputGradientModel(model: tfl.LayersModel, loss: InputGradientLoss): Uint8Array {
  const shape = model.inputs[0].shape;
  if (shape.length !== 4 || shape.slice(1).some((d) => d === null)) {
    throw new UnsupportedModelError(`the ONNX exporter takes images [N, H, W, C] (this model's input is [${shape.join(', ')}])`);
  }
  const [, H, W, C] = shape as number[];
  const layers = chainLayers(model);
  const g = new GraphWriter();
  const backward: Backward[] = [];
  let dims: Dims = { c: C, h: H, w: W, flat: false };
  let x = g.op('Transpose', ['x'], { perm: [0, 3, 1, 2] }); // NHWC → NCHW
  backward.push((dy) => g.op('Transpose', [dy], { perm: [0, 2, 3, 1] }));
  let finalSoftmax = false;

  const activation = (name: string, input: string, last: boolean, layerName: string): string => {
    switch (name) {
      case 'linear':
        return input;
      case 'relu': {
        const y = g.op('Relu', [input]);
        // y ≥ 0, so Sign(y) is the 0/1 mask of the active units (faster than Where in onnxruntime).
        backward.push((dy) => g.op('Mul', [dy, g.op('Sign', [y])]));
        return y;
      }
      case 'sigmoid': {
        const y = g.op('Sigmoid', [input]);
        backward.push((dy) => g.op('Mul', [dy, g.op('Mul', [y, g.op('Sub', [g.scalar(1), y])])]));
        return y;
      }
      case 'tanh': {
        const y = g.op('Tanh', [input]);
        backward.push((dy) => g.op('Mul', [dy, g.op('Sub', [g.scalar(1), g.op('Mul', [y, y])])]));
        return y;
      }
      case 'softmax':
        if (last && dims.flat) {
          finalSoftmax = true;
          return input; // the loss head applies it
        }
        throw new UnsupportedModelError(`layer '${layerName}': softmax is supported on the last layer only`);
      default:
        throw new UnsupportedModelError(`layer '${layerName}': activation '${name}' is not supported by the ONNX exporter`);
    }
  };

  layers.forEach((layer, index) => {
    const last = index === layers.length - 1;
    const cls = layer.getClassName();
    const config = layer.getConfig() as Record<string, unknown>;
    switch (cls) {
      case 'Conv2D': {
        if (dims.flat) throw new UnsupportedModelError(`layer '${layer.name}': Conv2D after Flatten`);
        const [kh, kw] = config.kernelSize as number[];
        const [sh, sw] = config.strides as number[];
        const dilation = config.dilationRate as number[] | number;
        if ((config.dataFormat ?? 'channelsLast') !== 'channelsLast' || [dilation].flat().some((d) => d !== 1) || (config.groups ?? 1) !== 1) {
          throw new UnsupportedModelError(`layer '${layer.name}': only channels-last, undilated, ungrouped Conv2D is supported`);
        }
        const padding = config.padding as string;
        if (padding !== 'same' && padding !== 'valid') throw new UnsupportedModelError(`layer '${layer.name}': padding '${padding}'`);
        const [ph0, ph1] = padding === 'same' ? samePads(dims.h, kh, sh) : [0, 0];
        const [pw0, pw1] = padding === 'same' ? samePads(dims.w, kw, sw) : [0, 0];
        const weights = layer.getWeights();
        const filters = config.filters as number;
        // [kh, kw, inC, outC] → [outC, inC, kh, kw]
        const kernel = tf.tidy(() => tf.transpose(weights[0], [3, 2, 0, 1]).dataSync() as Float32Array);
        const k = g.floats(kernel, [filters, dims.c, kh, kw]);
        const inputs = [x, k];
        if (config.useBias !== false) inputs.push(g.floats(weights[1].dataSync() as Float32Array, [filters], 'b'));
        const pads = [ph0, pw0, ph1, pw1];
        const y = g.op('Conv', inputs, { kernel_shape: [kh, kw], strides: [sh, sw], pads });
        const outH = Math.floor((dims.h + ph0 + ph1 - kh) / sh) + 1;
        const outW = Math.floor((dims.w + pw0 + pw1 - kw) / sw) + 1;
        const inH = dims.h;
        const inW = dims.w;
        if (sh === 1 && sw === 1 && dims.c >= 8) {
          // Stride 1: dx is a plain convolution of dy with the flipped kernel, channels swapped
          // ([inC, outC, kh, kw]), padded by k − 1 − p on each side: onnxruntime's fastest path
          // (its blocked convolution), except with few input channels (an image's 1 or 3), where
          // ConvTranspose's single matrix product wins (MNIST net: 8.6 → 5.3 ms per batch of 32).
          const flipped = new Float32Array(kernel.length);
          for (let o = 0; o < filters; o++) {
            for (let i = 0; i < dims.c; i++) {
              for (let r = 0; r < kh; r++) {
                for (let c = 0; c < kw; c++) flipped[((i * filters + o) * kh + (kh - 1 - r)) * kw + (kw - 1 - c)] = kernel[((o * dims.c + i) * kh + r) * kw + c];
              }
            }
          }
          const kf = g.floats(flipped, [dims.c, filters, kh, kw]);
          const backPads = [kh - 1 - ph0, kw - 1 - pw0, kh - 1 - ph1, kw - 1 - pw1];
          backward.push((dy) => g.op('Conv', [dy, kf], { kernel_shape: [kh, kw], pads: backPads }));
        } else {
          // dx = ConvTranspose(dy, W): the same kernel read as [C_in of the transpose = outC, inC, kh, kw].
          const outputPadding = [inH - (sh * (outH - 1) + kh - ph0 - ph1), inW - (sw * (outW - 1) + kw - pw0 - pw1)];
          backward.push((dy) => g.op('ConvTranspose', [dy, k], { kernel_shape: [kh, kw], strides: [sh, sw], pads, output_padding: outputPadding }));
        }
        dims = { c: filters, h: outH, w: outW, flat: false };
        x = activation(activationOf(layer), y, last, layer.name);
        return;
      }
      case 'MaxPooling2D': {
        if (dims.flat) throw new UnsupportedModelError(`layer '${layer.name}': MaxPooling2D after Flatten`);
        if ((config.dataFormat ?? 'channelsLast') !== 'channelsLast') throw new UnsupportedModelError(`layer '${layer.name}': channels-first pooling`);
        const [kh, kw] = config.poolSize as number[];
        const [sh, sw] = (config.strides as number[] | null) ?? [kh, kw];
        const padding = config.padding as string;
        const [ph0, ph1] = padding === 'same' ? samePads(dims.h, kh, sh) : [0, 0];
        const [pw0, pw1] = padding === 'same' ? samePads(dims.w, kw, sw) : [0, 0];
        const pads = [ph0, pw0, ph1, pw1];
        const input = x;
        const [y, indices] = g.node('MaxPool', [x], { kernel_shape: [kh, kw], strides: [sh, sw], pads }, 2);
        // The gradient goes to each window's argmax (MaxPool's indices into the whole input tensor).
        backward.push((dy) => g.op('MaxUnpool', [dy, indices, g.op('Shape', [input])], { kernel_shape: [kh, kw], strides: [sh, sw], pads }));
        dims = { c: dims.c, h: Math.floor((dims.h + ph0 + ph1 - kh) / sh) + 1, w: Math.floor((dims.w + pw0 + pw1 - kw) / sw) + 1, flat: false };
        x = y;
        return;
      }
      case 'Flatten': {
        if (dims.flat) return;
        const { c, h, w } = dims;
        // TensorFlow.js flattens NHWC: back to channels-last first.
        x = g.op('Reshape', [g.op('Transpose', [x], { perm: [0, 2, 3, 1] }), g.ints([-1, h * w * c])]);
        backward.push((dy) => g.op('Transpose', [g.op('Reshape', [dy, g.ints([-1, h, w, c])])], { perm: [0, 3, 1, 2] }));
        dims = { c: h * w * c, h: 1, w: 1, flat: true };
        return;
      }
      case 'Dense': {
        if (!dims.flat) throw new UnsupportedModelError(`layer '${layer.name}': Dense on a [H, W, C] tensor (flatten first)`);
        const weights = layer.getWeights();
        const units = config.units as number;
        const kernel = weights[0].dataSync() as Float32Array; // [in, units]
        const kernelT = tf.tidy(() => tf.transpose(weights[0]).dataSync() as Float32Array);
        let y = g.op('MatMul', [x, g.floats(kernel, [dims.c, units])]);
        if (config.useBias !== false) y = g.op('Add', [y, g.floats(weights[1].dataSync() as Float32Array, [units], 'b')]);
        const kT = g.floats(kernelT, [units, dims.c]);
        backward.push((dy) => g.op('MatMul', [dy, kT]));
        dims = { c: units, h: 1, w: 1, flat: true };
        x = activation(activationOf(layer), y, last, layer.name);
        return;
      }
      case 'Dropout':
        return;
      case 'Activation':
        x = activation(activationOf(layer), x, last, layer.name);
        return;
      case 'ReLU': {
        const cfg = config as { maxValue?: number | null; negativeSlope?: number; threshold?: number };
        if ((cfg.maxValue ?? null) !== null || (cfg.negativeSlope ?? 0) !== 0 || (cfg.threshold ?? 0) !== 0) {
          throw new UnsupportedModelError(`layer '${layer.name}': ReLU with a cap, slope or threshold`);
        }
        x = activation('relu', x, last, layer.name);
        return;
      }
      default:
        throw new UnsupportedModelError(`layer '${layer.name}' (${cls}) is not supported by the ONNX exporter`);
    }
  });
  if (!dims.flat) throw new UnsupportedModelError('the model does not end in a vector of class scores');
  const K = dims.c;

  // The loss head: `out`, and d(loss)/d(logits).
  const z = x;
  const p = g.op('Softmax', [z], { axis: -1 });
  const out = finalSoftmax ? p : z;
  const scale = 'scale';
  const throughSoftmax = (dp: string): string => g.op('Mul', [p, g.op('Sub', [dp, g.op('ReduceSum', [g.op('Mul', [dp, p]), g.ints([-1])], { keepdims: 1 })])]);
  let dz: string;
  if (loss === 'release-swapped') {
    // d/dp_t of −mean(p_t·a + (1 − p_t)·b) = −(a − b)/N on the target's column.
    const coefficient = -(Math.log(1 - PROBABILITY_EPSILON) - Math.log(PROBABILITY_EPSILON));
    dz = throughSoftmax(g.op('Mul', [g.op('Mul', ['target', g.scalar(coefficient)]), scale]));
  } else if (finalSoftmax) {
    // −mean Σ t·log(clip(p)): the clip passes the gradient where 1e-7 ≤ p ≤ 1 − 1e-7 (as TensorFlow.js's).
    const clipped = g.op('Clip', [p, g.scalar(PROBABILITY_EPSILON), g.scalar(1 - PROBABILITY_EPSILON)]);
    const inside = g.op('And', [g.op('GreaterOrEqual', [p, g.scalar(PROBABILITY_EPSILON)]), g.op('LessOrEqual', [p, g.scalar(1 - PROBABILITY_EPSILON)])]);
    const dClipped = g.op('Neg', [g.op('Mul', [g.op('Div', ['target', clipped]), scale])]);
    dz = throughSoftmax(g.op('Where', [inside, dClipped, g.scalar(0)]));
  } else {
    dz = g.op('Mul', [g.op('Sub', [p, 'target']), scale]);
  }
  let d = dz;
  for (let i = backward.length - 1; i >= 0; i--) d = backward[i](d);

  const nodes = g.nodes;
  // Name the two outputs.
  nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [out], output: ['out'] }));
  nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [d], output: ['dx'] }));
  const value = (name: string, dimsOf: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: FLOAT,
          shape: onnx.TensorShapeProto.create({
            dim: dimsOf.map((v) => onnx.TensorShapeProto.Dimension.create(typeof v === 'number' ? { dimValue: v } : { dimParam: v })),
          }),
        }),
      }),
    });
  const graph = onnx.GraphProto.create({
    name: model.name,
    node: nodes,
    initializer: g.initializers,
    input: [value('x', ['N', H, W, C]), value('target', ['N', K]), value('scale', [1])],
    output: [value('out', ['N', K]), value('dx', ['N', H, W, C])],
  });
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'poisonguard',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })],
    graph,
  });
  return onnx.ModelProto.encode(proto).finish();
}
