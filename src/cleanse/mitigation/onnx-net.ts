/**
 * A user's ONNX model as a {@link MitigationNet}, on the native engine:
 *  - a layer is an activation of the graph: 'penultimate' the input of the last Gemm/MatMul,
 *    'last-conv' the last Conv's output, or a value or node name of the file; a unit is axis 1 of it
 *    (a Dense unit, or a channel whose activation is the mean over its map);
 *  - the model with units silenced runs from cached activations through the head program (the
 *    nodes after the layer, with the residual shortcuts they read as inputs);
 *  - pruning zeroes the weight slices that make the units (silence.ts), so that the written file
 *    holds the pruned model in its initializers;
 *  - fine-tuning runs trainGraph with BatchNorm frozen, as fine-tuning defenses treat it;
 *  - the mitigated model is the original file with its changed initializers replaced, read back and
 *    measured before it is kept, so that the numbers the report states are the written file's.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../../data/images.js';
import { PoisonguardError, UnknownNameError } from '../../errors.js';
import { UnsupportedGraphError, type ClassifierGraph } from '../../graph/ir.js';
import { replaceInitializers } from '../../graph/onnx-rewrite.js';
import { headOf } from '../../graph/programs.js';
import { silencingSlices, zeroSlices, type ZeroSlice } from '../../graph/silence.js';
import { classifierFromBytes, ONNX_MODEL_FILE, ONNX_SIDECAR_IN_FOLDER, openOnnxModel, type OnnxModel, type OnnxModelMetadata } from '../../nn/onnx-model.js';
import { preprocessInto, type Preprocessing } from '../../nn/preprocess.js';
import { argMaxRows, graphScorer } from '../../nn/scorer.js';
import type { ZeroedWeight } from '../../nn/train-native.js';
import type { OwnFiles } from '../../outputs.js';
import { DEFAULT_SEED } from '../../random.js';
import { sha256Of, writeFileAtomic, writeJsonAtomic } from '../../run-files.js';
import { FEATURE_BATCH, type MitigationLayer } from './layers.js';
import { metricsOf, predictSets, type EvaluationSets } from './measure.js';
import type { CachedActivations, LayerProbe, MitigationNet, NetFineTune } from './net.js';
import { keepVector } from './prune.js';
import { recordedPruning, type MitigationRecord } from './record.js';
import type { ScanSource } from './reversed-trigger.js';

/** The files of a mitigated ONNX model's folder (what a mitigation writes besides mitigation.json and filter.json). */
export const ONNX_MODEL_FOLDER_FILES: OwnFiles = { files: [ONNX_MODEL_FILE, ONNX_SIDECAR_IN_FOLDER] };

/** Opens a user's ONNX model for mitigation (its sidecar must say the preprocessing and, unless images are given, the dataset). */
export function readOnnxForMitigation(path: string, scan: ScanSource, dataGiven: boolean): OnnxModel {
  const model = openOnnxModel(path);
  const m = model.metadata;
  if (m.preprocessing === undefined || (m.dataset === undefined && !dataGiven)) {
    throw new PoisonguardError('invalid-option', `${model.sidecar} does not say the model's preprocessing and dataset yet: evaluate or scan the model once with --preprocess and --dataset.`, { path: 'model' });
  }
  if (scan.modelSha256 !== model.sha256) {
    throw new PoisonguardError('invalid-option', `the scan in ${scan.dir} is of another model (SHA-256 ${scan.modelSha256.slice(0, 12)}…, but ${model.file} is ${model.sha256.slice(0, 12)}…); scan this model first.`, { path: 'scan' });
  }
  return model;
}

/** A user's ONNX model as a mitigation net (see the module comment). */
export function onnxNet(model: OnnxModel): MitigationNet {
  const m = model.metadata;
  const pre = m.preprocessing!;
  const graph = model.graph;
  // Copies of the weights a mitigation changes, by name; the rest stay the graph's.
  const changed = new Map<string, Float32Array>();
  const zeroed: ZeroedWeight[] = [];
  const prior = recordedPruning(m);
  if (prior) {
    const layer = resolveOnnxLayer(graph, prior.layer, 'prune');
    zeroed.push(...zeroedOf(layer.slices, layer.layer.units, prior.neurons));
  }
  const current = (): ClassifierGraph => withWeights(graph, changed);
  const dimsOf = (name: string) => graph.weights.get(name)!.dims;
  return {
    kind: 'onnx',
    path: model.file,
    sha256: model.sha256,
    backend: 'onnxruntime',
    inputShape: m.inputShape,
    records: {
      dataset: m.dataset,
      datasetSeed: DEFAULT_SEED,
      preprocessing: pre,
      realTrigger: m.trigger && m.target !== undefined && m.target !== null ? { trigger: m.trigger, target: m.target } : null,
      pruned: prior,
      previous: (m.mitigation as MitigationRecord | undefined) ?? null,
    },
    predictSets: (sets, onProgress) => scoreSets(current(), sets, pre, onProgress),
    async probe(choice, purpose) {
      const resolved = resolveOnnxLayer(current(), choice, purpose);
      return onnxProbe(current(), resolved.layer, pre, m.inputShape, resolved.note);
    },
    prune(layer: MitigationLayer, neurons) {
      const { slices } = resolveOnnxLayer(graph, layer.name, 'prune');
      for (const s of slices) if (!changed.has(s.weight)) changed.set(s.weight, Float32Array.from(graph.weights.get(s.weight)!.data));
      zeroSlices(changed, dimsOf, slices, neurons);
      zeroed.push(...zeroedOf(slices, layer.units, neurons));
    },
    async fineTune(set: ImageSet, o: NetFineTune) {
      const { trainGraph } = await import('../../nn/train-native.js');
      await trainGraph(graph, changed, set, {
        epochs: o.epochs,
        learningRate: o.learningRate,
        batchSize: o.batchSize,
        seed: o.seed,
        preprocessing: pre,
        batchNorm: 'frozen',
        zeroed,
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      });
      return { engine: 'onnx', reason: 'an ONNX model is fine-tuned on the native engine (BatchNorm frozen)' };
    },
    async finish(sets: EvaluationSets, onProgress) {
      const bytes = changed.size === 0 ? readFileSync(model.file) : replaceInitializers(readFileSync(model.file), changed, model.file, (name) => graph.weights.get(name)?.dims);
      // The file as it will be written, read back: its numbers are the report's.
      const written = classifierFromBytes(bytes, m.inputLayout, { file: `${model.file} (mitigated)`, dir: model.dir });
      const after = metricsOf(await scoreSets(written, sets, pre, onProgress), sets);
      return {
        after,
        async save(out: string, record: MitigationRecord) {
          mkdirSync(out, { recursive: true });
          const file = join(out, ONNX_MODEL_FILE);
          writeFileAtomic(file, bytes);
          const sidecar: OnnxModelMetadata = { ...m, modelSha256: sha256Of(bytes), mitigation: record };
          writeJsonAtomic(join(out, ONNX_SIDECAR_IN_FOLDER), sidecar);
          return file;
        },
      };
    },
    dispose: async () => {},
  };
}

/** The keep-vector masks that hold pruned units at zero during fine-tuning. */
function zeroedOf(slices: readonly ZeroSlice[], units: number, neurons: readonly number[]): ZeroedWeight[] {
  const keep = keepVector(units, neurons, neurons.length);
  return slices.map((s) => ({ weight: s.weight, keep, axis: s.axis }));
}

/** `graph` with some weights' values replaced. */
function withWeights(graph: ClassifierGraph, changed: ReadonlyMap<string, Float32Array>): ClassifierGraph {
  if (changed.size === 0) return graph;
  return { ...graph, weights: new Map([...graph.weights].map(([k, w]) => [k, changed.has(k) ? { dims: w.dims, data: changed.get(k)! } : w])) };
}

async function scoreSets(graph: ClassifierGraph, sets: EvaluationSets, pre: Preprocessing, onProgress?: (done: number, total: number) => void) {
  const scorer = await graphScorer(graph);
  try {
    return await predictSets(scorer, sets, pre, onProgress);
  } finally {
    await scorer.dispose();
  }
}

/** The layer choices of an ONNX model besides a value's or node's own name. */
export const ONNX_LAYER_CHOICES = ['penultimate', 'last-conv'] as const;

/** A layer of a graph, and (for pruning) the weight slices that silence its units. */
export interface OnnxLayer {
  readonly layer: MitigationLayer;
  readonly slices: readonly ZeroSlice[];
  /** Why another layer than the one asked for was taken. */
  readonly note?: string;
}

/**
 * Resolves a layer choice on a graph. For pruning, the layer's units must be silenceable by zeroing
 * weights; the default 'penultimate' of a network whose pooled features come from a residual sum is
 * not, and then the last convolution's output is taken instead (with a note saying so).
 */
export function resolveOnnxLayer(graph: ClassifierGraph, choice: string, purpose: 'filter' | 'prune'): OnnxLayer {
  const nodes = graph.nodes;
  const lastIndex = (pred: (i: number) => boolean): number => {
    for (let i = nodes.length - 1; i >= 0; i--) if (pred(i)) return i;
    return -1;
  };
  const at = (index: number, value: string): MitigationLayer => {
    const shape = graph.shapes.get(value)!;
    if (shape.length !== 2 && shape.length !== 4) throw new UnsupportedGraphError(`'${value}' is ${shape.length}-dimensional; the mitigations take [N, units] or [N, channels, H, W] activations`);
    return { index, name: value, kind: shape.length === 4 ? 'conv' : 'dense', units: shape[1], featureShape: shape.slice(1) };
  };
  // The deepest Conv (the longest path from the input; the later one on a tie): in a residual block the
  // main branch's last convolution, not the 1x1 shortcut that an exporter may write after it.
  const depth = new Map<string, number>([[graph.input.name, 0]]);
  const nodeDepth = nodes.map((n) => {
    const d = 1 + Math.max(0, ...n.inputs.map((i) => depth.get(i) ?? 0));
    for (const o of n.outputs) depth.set(o, d);
    return d;
  });
  const lastConv = (): MitigationLayer => {
    let i = -1;
    nodes.forEach((n, k) => {
      if (n.op === 'Conv' && (i < 0 || nodeDepth[k] >= nodeDepth[i])) i = k;
    });
    if (i < 0) throw new UnsupportedGraphError('the model has no Conv node (last-conv)');
    return at(i, nodes[i].outputs[0]);
  };
  let layer: MitigationLayer;
  if (choice === 'penultimate') {
    const i = lastIndex((k) => (nodes[k].op === 'Gemm' || nodes[k].op === 'MatMul') && graph.weights.has(nodes[k].inputs[1]));
    if (i < 0) throw new UnsupportedGraphError("the model has no Gemm or MatMul with a weight, whose input would be the second-to-last layer; choose 'last-conv' or a value by name");
    const value = nodes[i].inputs[0];
    const producer = nodes.findIndex((n) => n.outputs.includes(value));
    if (producer < 0) throw new UnsupportedGraphError(`the last Gemm/MatMul reads the model's input: no hidden layer before it`);
    layer = at(producer, value);
    if (purpose === 'prune') {
      try {
        return { layer, slices: silencingSlices(graph, value) };
      } catch (e) {
        if (!(e instanceof UnsupportedGraphError)) throw e;
        const conv = lastConv();
        return { layer: conv, slices: silencingSlices(graph, conv.name), note: `The second-to-last layer cannot be pruned in the weights (${e.message}); the last convolution's output '${conv.name}' is pruned instead.` };
      }
    }
  } else if (choice === 'last-conv') {
    layer = lastConv();
  } else {
    const byValue = nodes.findIndex((n) => n.outputs.includes(choice));
    const byName = nodes.findIndex((n) => n.name === choice);
    const i = byValue >= 0 ? byValue : byName;
    if (i < 0) {
      // The choices, and the values a user would most likely mean (the last layers' outputs).
      const known = nodes.filter((n) => n.op === 'Conv' || n.op === 'Gemm' || n.op === 'Relu').map((n) => n.outputs[0]);
      throw new UnknownNameError('layer', choice, [...ONNX_LAYER_CHOICES, ...known.slice(-8)]);
    }
    layer = at(i, nodes[i].outputs[0]);
  }
  if (layer.name === graph.output || (graph.endsInSoftmax && layer.name === nodes[nodes.length - 1].inputs[0])) {
    throw new UnsupportedGraphError(`'${layer.name}' is the class scores; choose a hidden layer`);
  }
  return { layer, slices: purpose === 'prune' ? silencingSlices(graph, layer.name) : [] };
}

/** Probes an ONNX graph at a layer: the forward program with its activations, and the head program. */
async function onnxProbe(graph: ClassifierGraph, layer: MitigationLayer, pre: Preprocessing, shape: readonly [number, number, number], note?: string): Promise<LayerProbe & { note?: string }> {
  const { createForwardRunner, createHeadRunner } = await import('../../graph/runtime.js');
  const head = headOf(graph, layer.name);
  const wanted = [layer.name, ...head.sides];
  const forward = await createForwardRunner(graph, { activations: wanted });
  const headRunner = await createHeadRunner(graph, head);
  const [H, W, C] = shape;
  const size = H * W * C;
  const per = (name: string): number => graph.shapes.get(name)!.slice(1).reduce((p, d) => p * d, 1);
  const sizes = wanted.map(per);
  const units = layer.units;
  const spatial = sizes[0] / units;
  const floats = new Float32Array(FEATURE_BATCH * size);
  /** Runs the forward program over `images` in batches. */
  const batches = async (images: Uint8Array, each: (start: number, n: number, values: Float32Array[]) => Promise<void>, onBatch?: (done: number) => void): Promise<number> => {
    const count = images.length / size;
    for (let start = 0; start < count; start += FEATURE_BATCH) {
      const n = Math.min(FEATURE_BATCH, count - start);
      preprocessInto(images.subarray(start * size, (start + n) * size), C, pre, floats);
      const r = await forward.run(floats.subarray(0, n * size), n);
      await each(start, n, wanted.map((w) => r.activations[w]));
      onBatch?.(start + n);
    }
    return count;
  };
  const headLabels = async (values: readonly Float32Array[], n: number, keep: Float32Array): Promise<Int32Array> => argMaxRows(await headRunner.run(values[0], values.slice(1), keep, n), n);
  return {
    layer,
    ...(note ? { note } : {}),
    async perNeuron(images, onBatch) {
      const out = new Float32Array((images.length / size) * units);
      await batches(
        images,
        async (start, n, [a]) => {
          for (let i = 0; i < n; i++) {
            for (let u = 0; u < units; u++) {
              let s = 0;
              const base = (i * units + u) * spatial;
              for (let p = 0; p < spatial; p++) s += a[base + p];
              out[(start + i) * units + u] = s / spatial;
            }
          }
        },
        onBatch,
      );
      return out;
    },
    async cache(images, onBatch) {
      const count = images.length / size;
      const values = sizes.map((s) => new Float32Array(count * s));
      await batches(images, async (start, n, vs) => vs.forEach((v, j) => values[j].set(v.subarray(0, n * sizes[j]), start * sizes[j])), onBatch);
      return { count, values };
    },
    async predictKept(cached: CachedActivations, keep) {
      const out = new Int32Array(cached.count);
      for (let start = 0; start < cached.count; start += FEATURE_BATCH) {
        const n = Math.min(FEATURE_BATCH, cached.count - start);
        out.set(await headLabels(cached.values.map((v, j) => v.subarray(start * sizes[j], (start + n) * sizes[j])), n, keep), start);
      }
      return out;
    },
    async predictKeptMany(images, keeps, onBatch) {
      const count = images.length / size;
      const outs = keeps.map(() => new Int32Array(count));
      await batches(images, async (start, n, vs) => {
        for (let k = 0; k < keeps.length; k++) outs[k].set(await headLabels(vs, n, keeps[k]), start);
      }, onBatch);
      return outs;
    },
    async dispose() {
      await forward.dispose();
      await headRunner.dispose();
    },
  };
}
