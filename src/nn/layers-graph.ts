/**
 * A tf.layers model as the native engine's {@link ClassifierGraph}: the TensorFlow.js front-end of
 * the graph engine. The graph takes the model's own NHWC input and transposes it to NCHW once;
 * kernels are rewritten to ONNX's layouts; a Flatten goes back to NHWC order first, as TensorFlow.js
 * flattens. The map from each graph weight back to its layer variable lets a native training run
 * write its result into the model.
 *
 * Layers: InputLayer, Conv2D (channels-last, any strides and dilation, 'same' or 'valid'),
 * DepthwiseConv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, BatchNormalization,
 * Dense, Flatten, Dropout, Activation, ReLU, LeakyReLU, Add and Concatenate (residual and branching
 * models); activations linear, relu, relu6, sigmoid, tanh, hard_sigmoid, and softmax on the last
 * layer. Anything else throws {@link UnsupportedGraphError}.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { BATCH, defaultTrainable, UnsupportedGraphError, type ClassifierGraph, type FloatTensor, type GraphNode, type Shape } from '../graph/ir.js';

/** Where a graph weight lives in the model, and how its layout differs. */
export interface LayerWeightRef {
  /** The graph weight's name. */
  readonly name: string;
  readonly variable: tfl.LayerVariable;
  /** 'hwio→oihw': a Conv2D kernel; 'hwcm→o1hw': a depthwise kernel; 'same': as is. */
  readonly layout: 'same' | 'hwio→oihw' | 'hwcm→o1hw';
}

export interface LayersGraph {
  readonly graph: ClassifierGraph;
  readonly refs: readonly LayerWeightRef[];
}

/** TensorFlow's 'same' padding: [before, after] for one spatial dimension. */
function samePads(size: number, k: number, s: number, d: number): [number, number] {
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + d * (k - 1) + 1 - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

function pair(v: unknown, fallback: number): [number, number] {
  if (v === undefined || v === null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0], a[1] ?? a[0]];
}

/** Builds the graph of `model` (its current weights, copied). */
export function layersToGraph(model: tfl.LayersModel): LayersGraph {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UnsupportedGraphError(`the native engine takes one input and one output (this model has ${model.inputs.length} and ${model.outputs.length})`);
  }
  const inShape = model.inputs[0].shape;
  if (inShape.length !== 4 || inShape.slice(1).some((d) => d === null)) {
    throw new UnsupportedGraphError(`the native engine takes images [N, H, W, C] (this model's input is [${inShape.join(', ')}])`);
  }
  const [, H, W, C] = inShape as number[];
  const nodes: GraphNode[] = [];
  const weights = new Map<string, FloatTensor>();
  const shapes = new Map<string, Shape>();
  const refs: LayerWeightRef[] = [];
  /** NCHW (or flat) value name of each layer's output. */
  const outputOf = new Map<string, string>();
  const inputName = 'input';
  shapes.set(inputName, [BATCH, H, W, C]);
  const add = (node: Omit<GraphNode, 'outputs'> & { outputs?: string[] }, shape: Shape): string => {
    const out = node.outputs?.[0] ?? `${node.name}:0`;
    nodes.push({ ...node, outputs: [out] } as GraphNode);
    shapes.set(out, shape);
    return out;
  };
  const weight = (layer: tfl.layers.Layer, index: number, layout: LayerWeightRef['layout']): string => {
    const variable = layer.weights[index];
    const value = variable.read();
    const data = tf.tidy(() => {
      if (layout === 'hwio→oihw') return tf.transpose(value, [3, 2, 0, 1]).dataSync() as Float32Array;
      if (layout === 'hwcm→o1hw') {
        // [kh, kw, C, mult] → [C·mult, 1, kh, kw]: output channel c·mult + j reads input channel c.
        const [kh, kw, c, m] = value.shape;
        return tf.transpose(tf.reshape(value, [kh, kw, c * m]), [2, 0, 1]).dataSync() as Float32Array;
      }
      return Float32Array.from(value.dataSync() as Float32Array);
    });
    const s = value.shape as number[];
    const dims = layout === 'hwio→oihw' ? [s[3], s[2], s[0], s[1]] : layout === 'hwcm→o1hw' ? [s[2] * s[3], 1, s[0], s[1]] : [...s];
    const name = variable.name;
    weights.set(name, { dims, data });
    shapes.set(name, dims);
    refs.push({ name, variable, layout });
    return name;
  };
  const shapeOf = (v: string) => shapes.get(v)!;
  const finalLayer = model.outputs[0].sourceLayer;

  const activation = (layer: tfl.layers.Layer, name: string, x: string, last: boolean): string => {
    const s = shapeOf(x);
    switch (name) {
      case 'linear':
        return x;
      case 'relu':
        return add({ name: `${layer.name}/relu`, op: 'Relu', inputs: [x], attrs: {} }, s);
      case 'relu6':
        return add({ name: `${layer.name}/relu6`, op: 'Clip', inputs: [x], attrs: { min: 0, max: 6 } }, s);
      case 'sigmoid':
        return add({ name: `${layer.name}/sigmoid`, op: 'Sigmoid', inputs: [x], attrs: {} }, s);
      case 'tanh':
        return add({ name: `${layer.name}/tanh`, op: 'Tanh', inputs: [x], attrs: {} }, s);
      case 'hardSigmoid':
      case 'hard_sigmoid':
        return add({ name: `${layer.name}/hard_sigmoid`, op: 'HardSigmoid', inputs: [x], attrs: { alpha: 0.2, beta: 0.5 } }, s);
      case 'softmax':
        if (last && s.length === 2) return add({ name: `${layer.name}/softmax`, op: 'Softmax', inputs: [x], attrs: { axis: 1 } }, s);
        throw new UnsupportedGraphError(`layer '${layer.name}': softmax is supported on the last layer only`);
      default:
        throw new UnsupportedGraphError(`layer '${layer.name}': activation '${name}' is not supported by the native engine`);
    }
  };
  const activationOf = (layer: tfl.layers.Layer): string => {
    const a = (layer.getConfig() as { activation?: unknown }).activation;
    return typeof a === 'string' ? a : 'linear';
  };

  // A Sequential model's InputLayer is not among its layers, so it is taken from the input.
  const inputLayer = model.inputs[0].sourceLayer;
  outputOf.set(inputLayer.name, add({ name: `${inputLayer.name}/nchw`, op: 'Transpose', inputs: [inputName], attrs: { perm: [0, 3, 1, 2] } }, [BATCH, C, H, W]));
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const config = layer.getConfig() as Record<string, unknown>;
    if (cls === 'InputLayer') continue;
    const inbound = (layer as unknown as { inboundNodes: { inboundLayers: tfl.layers.Layer[] }[] }).inboundNodes;
    if (inbound.length !== 1) throw new UnsupportedGraphError(`layer '${layer.name}' is used ${inbound.length} times (shared layers are not supported)`);
    const sources = inbound[0].inboundLayers.map((l) => {
      const v = outputOf.get(l.name);
      if (v === undefined) throw new UnsupportedGraphError(`layer '${layer.name}' reads '${l.name}', which comes later`);
      return v;
    });
    // A Sequential model's first layer is fed by an implicit InputLayer.
    const x = sources[0];
    const s = x === undefined ? undefined : shapeOf(x);
    const last = layer === finalLayer;
    const spatial = () => {
      if (!s || s.length !== 4) throw new UnsupportedGraphError(`layer '${layer.name}' (${cls}) needs an image-shaped input`);
      if ((config.dataFormat ?? 'channelsLast') !== 'channelsLast') throw new UnsupportedGraphError(`layer '${layer.name}': channels-first layers are not supported`);
      return s;
    };
    let out: string;
    switch (cls) {
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const xs = spatial();
        const depthwise = cls === 'DepthwiseConv2D';
        const [kh, kw] = pair(config.kernelSize, 1);
        const [sh, sw] = pair(config.strides, 1);
        const [dh, dw] = pair(config.dilationRate, 1);
        if ((config.groups ?? 1) !== 1) throw new UnsupportedGraphError(`layer '${layer.name}': grouped Conv2D`);
        const padding = config.padding as string;
        if (padding !== 'same' && padding !== 'valid') throw new UnsupportedGraphError(`layer '${layer.name}': padding '${padding}'`);
        const [ph0, ph1] = padding === 'same' ? samePads(xs[2], kh, sh, dh) : [0, 0];
        const [pw0, pw1] = padding === 'same' ? samePads(xs[3], kw, sw, dw) : [0, 0];
        const k = weight(layer, 0, depthwise ? 'hwcm→o1hw' : 'hwio→oihw');
        const inputs = [x, k];
        if (config.useBias !== false) inputs.push(weight(layer, 1, 'same'));
        const filters = weights.get(k)!.dims[0];
        const oh = Math.floor((xs[2] + ph0 + ph1 - dh * (kh - 1) - 1) / sh) + 1;
        const ow = Math.floor((xs[3] + pw0 + pw1 - dw * (kw - 1) - 1) / sw) + 1;
        const attrs = { kernel: [kh, kw], strides: [sh, sw], dilations: [dh, dw], pads: [ph0, pw0, ph1, pw1], group: depthwise ? xs[1] : 1 };
        const y = add({ name: layer.name, op: 'Conv', inputs, attrs }, [BATCH, filters, oh, ow]);
        out = activation(layer, activationOf(layer), y, last);
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const xs = spatial();
        const [kh, kw] = pair(config.poolSize, 2);
        const [sh, sw] = pair(config.strides ?? config.poolSize, 2);
        const padding = config.padding as string;
        const [ph0, ph1] = padding === 'same' ? samePads(xs[2], kh, sh, 1) : [0, 0];
        const [pw0, pw1] = padding === 'same' ? samePads(xs[3], kw, sw, 1) : [0, 0];
        const oh = Math.floor((xs[2] + ph0 + ph1 - kh) / sh) + 1;
        const ow = Math.floor((xs[3] + pw0 + pw1 - kw) / sw) + 1;
        const base = { kernel: [kh, kw], strides: [sh, sw], pads: [ph0, pw0, ph1, pw1], ceil: 0 };
        // TensorFlow averages over the window's positions inside the input (padding not counted).
        const attrs = cls === 'MaxPooling2D' ? { ...base, dilations: [1, 1] } : { ...base, countIncludePad: 0 };
        out = add({ name: layer.name, op: cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', inputs: [x], attrs }, [BATCH, xs[1], oh, ow]);
        break;
      }
      case 'GlobalAveragePooling2D': {
        const xs = spatial();
        out = add({ name: layer.name, op: 'ReduceMean', inputs: [x], attrs: { axes: [2, 3], keepdims: 0 } }, [BATCH, xs[1]]);
        break;
      }
      case 'BatchNormalization': {
        if (!s) throw new UnsupportedGraphError(`layer '${layer.name}' has no input`);
        const axis = (config.axis as number) ?? -1;
        if (axis !== -1 && axis !== s.length - 1) throw new UnsupportedGraphError(`layer '${layer.name}': BatchNormalization over axis ${axis}`);
        const names = layer.weights.map((w) => w.originalName.split('/').pop());
        const find = (key: string) => names.indexOf(key);
        const c = s[1];
        const constant = (suffix: string, value: number) => {
          const name = `${layer.name}/${suffix}`;
          weights.set(name, { dims: [c], data: new Float32Array(c).fill(value) });
          shapes.set(name, [c]);
          return name;
        };
        const gamma = find('gamma') >= 0 ? weight(layer, find('gamma'), 'same') : constant('gamma', 1);
        const beta = find('beta') >= 0 ? weight(layer, find('beta'), 'same') : constant('beta', 0);
        const mean = weight(layer, find('moving_mean'), 'same');
        const variance = weight(layer, find('moving_variance'), 'same');
        out = add({ name: layer.name, op: 'BatchNormalization', inputs: [x, gamma, beta, mean, variance], attrs: { epsilon: (config.epsilon as number) ?? 1e-3, momentum: (config.momentum as number) ?? 0.99 } }, s);
        break;
      }
      case 'Flatten': {
        if (!s) throw new UnsupportedGraphError(`layer '${layer.name}' has no input`);
        if (s.length === 2) {
          out = x;
          break;
        }
        const [, c, h, w] = s;
        // TensorFlow.js flattens NHWC: back to channels-last first.
        const nhwc = add({ name: `${layer.name}/nhwc`, op: 'Transpose', inputs: [x], attrs: { perm: [0, 2, 3, 1] } }, [BATCH, h, w, c]);
        out = add({ name: layer.name, op: 'Reshape', inputs: [nhwc], attrs: { shape: [BATCH, h * w * c] } }, [BATCH, h * w * c]);
        break;
      }
      case 'Dense': {
        if (!s || s.length !== 2) throw new UnsupportedGraphError(`layer '${layer.name}': Dense on a non-flat input (flatten first)`);
        const k = weight(layer, 0, 'same');
        const units = weights.get(k)!.dims[1];
        let y = add({ name: `${layer.name}/matmul`, op: 'MatMul', inputs: [x, k], attrs: {} }, [BATCH, units]);
        if (config.useBias !== false) y = add({ name: layer.name, op: 'Add', inputs: [y, weight(layer, 1, 'same')], attrs: {} }, [BATCH, units]);
        out = activation(layer, activationOf(layer), y, last);
        break;
      }
      case 'Dropout':
        out = add({ name: layer.name, op: 'Dropout', inputs: [x], attrs: { rate: config.rate as number } }, s!);
        break;
      case 'Activation':
        out = activation(layer, activationOf(layer), x, last);
        break;
      case 'ReLU': {
        const cfg = config as { maxValue?: number | null; negativeSlope?: number; threshold?: number };
        if ((cfg.negativeSlope ?? 0) !== 0 || (cfg.threshold ?? 0) !== 0) throw new UnsupportedGraphError(`layer '${layer.name}': ReLU with a slope or threshold`);
        out = cfg.maxValue != null ? add({ name: layer.name, op: 'Clip', inputs: [x], attrs: { min: 0, max: cfg.maxValue } }, s!) : activation(layer, 'relu', x, last);
        break;
      }
      case 'LeakyReLU':
        out = add({ name: layer.name, op: 'LeakyRelu', inputs: [x], attrs: { alpha: (config.alpha as number) ?? 0.3 } }, s!);
        break;
      case 'Add': {
        out = sources.slice(1).reduce((acc, v, i) => add({ name: i === sources.length - 2 ? layer.name : `${layer.name}/${i}`, op: 'Add', inputs: [acc, v], attrs: {} }, s!), x);
        break;
      }
      case 'Concatenate': {
        const axis = (config.axis as number) ?? -1;
        const rank = s!.length;
        // Channels-last axis −1 is axis 1 in NCHW.
        const onnxAxis = rank === 4 ? ({ [-1]: 1, 3: 1, 1: 2, 2: 3 } as Record<number, number>)[axis] : axis < 0 ? axis + rank : axis;
        if (onnxAxis === undefined || onnxAxis === 0) throw new UnsupportedGraphError(`layer '${layer.name}': concatenation along axis ${axis}`);
        const shape = [...s!];
        shape[onnxAxis] = sources.reduce((t, v) => t + shapeOf(v)[onnxAxis], 0);
        out = add({ name: layer.name, op: 'Concat', inputs: sources, attrs: { axis: onnxAxis } }, shape);
        break;
      }
      default:
        throw new UnsupportedGraphError(`layer '${layer.name}' (${cls}) is not supported by the native engine`);
    }
    outputOf.set(layer.name, out);
  }
  const output = outputOf.get(finalLayer.name)!;
  const outShape = shapeOf(output);
  if (outShape.length !== 2) throw new UnsupportedGraphError('the model does not end in a vector of class scores');
  const lastNode = nodes[nodes.length - 1];
  const endsInSoftmax = lastNode.op === 'Softmax' && lastNode.outputs[0] === output;
  const graph: ClassifierGraph = {
    name: model.name,
    input: { name: inputName, shape: [BATCH, H, W, C] },
    output,
    endsInSoftmax,
    nodes,
    weights,
    trainable: new Set(refs.filter((r) => r.variable.trainable).map((r) => r.name).filter((n) => defaultTrainable(nodes, weights).has(n))),
    shapes,
  };
  return { graph, refs };
}

/** Writes graph weights (by name, in the graph's layouts) back into the model's variables. */
export function writeWeightsToLayers(refs: readonly LayerWeightRef[], values: ReadonlyMap<string, Float32Array>): void {
  for (const ref of refs) {
    const data = values.get(ref.name);
    if (data === undefined) continue;
    const shape = ref.variable.shape as number[];
    tf.tidy(() => {
      let t: tf.Tensor;
      if (ref.layout === 'hwio→oihw') t = tf.transpose(tf.tensor4d(data, [shape[3], shape[2], shape[0], shape[1]]), [2, 3, 1, 0]);
      else if (ref.layout === 'hwcm→o1hw') t = tf.reshape(tf.transpose(tf.tensor3d(data, [shape[2] * shape[3], shape[0], shape[1]]), [1, 2, 0]), shape);
      else t = tf.tensor(data, shape);
      ref.variable.write(t);
    });
  }
}
