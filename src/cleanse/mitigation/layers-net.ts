/**
 * A TF.js model folder as a {@link MitigationNet}: the chain of layers split at the chosen layer
 * (layers.ts), pruning by masks on its variables (prune.ts), fine-tuning on the native engine or
 * TF.js (unlearn.ts), and the patched model saved as a model folder whose metadata.json records the
 * mitigation.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSet } from '../../data/images.js';
import { NotFoundError } from '../../errors.js';
import type { BackendChoice } from '../../nn/engine.js';
import type { ModelMetadata } from '../../nn/model-io.js';
import { computeFeatures, predictFromFeatures, resolveLayer, type MitigationLayer } from './layers.js';
import { metricsOf, predictSets, type EvaluationSets } from './measure.js';
import type { CachedActivations, LayerProbe, MitigationNet, NetFineTune } from './net.js';
import { prune, type PrunedWeights } from './prune.js';
import { previousRecord, recordedPruning, saveMitigated, type MitigationRecord } from './record.js';
import { fineTune } from './unlearn.js';

/** The model folder `path` checked and its metadata read (nothing loaded yet). */
/** The model folder `path` resolved, or a NotFoundError when it is not a folder (checked before --out is claimed). */
export function locateLayersModelFolder(path: string): string {
  const dir = resolve(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new NotFoundError(dir, 'model folder', 'A model folder holds model.json, its weight files and metadata.json, as training writes them');
  }
  return dir;
}

export async function readLayersModelFolder(path: string): Promise<{ dir: string; metadata: ModelMetadata }> {
  const dir = locateLayersModelFolder(path);
  const { readMetadata, METADATA_JSON } = await import('../../nn/model-io.js');
  if (!existsSync(join(dir, METADATA_JSON))) {
    throw new NotFoundError(join(dir, METADATA_JSON), 'model metadata file', "mitigation needs the model's dataset and preprocessing, which `poisonguard train` records there");
  }
  return { dir, metadata: readMetadata(dir) };
}

/** Opens the TF.js model folder `dir` (its SHA-256 already checked against the scan) on `backend`. */
export async function openLayersNet(dir: string, metadata: ModelMetadata, sha256: string, backend: BackendChoice = 'auto'): Promise<MitigationNet> {
  const { initEngine } = await import('../../nn/engine.js');
  const { loadModel, saveModel } = await import('../../nn/model-io.js');
  const engine = await initEngine({ backend });
  const { model } = await loadModel(dir);
  const [, H, W, C] = model.inputs[0].shape as number[];
  const shape: [number, number, number] = [H, W, C];
  const pre = metadata.preprocessing;
  let pruned: PrunedWeights | undefined;
  const prior = recordedPruning(metadata);
  return {
    kind: 'tfjs',
    path: dir,
    sha256,
    backend: engine.backend,
    inputShape: shape,
    records: {
      dataset: metadata.dataset,
      datasetSeed: metadata.seed,
      preprocessing: pre,
      realTrigger: metadata.trigger !== null && metadata.target !== null ? { trigger: metadata.trigger, target: metadata.target } : null,
      pruned: prior,
      previous: previousRecord(metadata),
    },
    predictSets: (sets, onProgress) => predictSets(model, sets, pre, onProgress),
    async probe(choice) {
      return layersProbe(model, resolveLayer(model, choice), shape, metadata);
    },
    prune(layer: MitigationLayer, neurons) {
      pruned?.dispose();
      pruned = prune(model, layer, neurons);
    },
    async fineTune(set: ImageSet, o: NetFineTune) {
      // Neurons pruned now or by an earlier mitigation stay at zero.
      if (!pruned && prior) pruned = prune(model, resolveLayer(model, prior.layer), prior.neurons);
      const tuned = await fineTune(model, set, {
        ...(o.engine !== undefined ? { engine: o.engine } : {}),
        epochs: o.epochs,
        learningRate: o.learningRate,
        batchSize: o.batchSize,
        seed: o.seed,
        preprocessing: pre,
        ...(pruned ? { pruned } : {}),
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      });
      return tuned.engine;
    },
    async finish(sets: EvaluationSets, onProgress) {
      const after = metricsOf(await predictSets(model, sets, pre, onProgress), sets);
      return {
        after,
        async save(out: string, record: MitigationRecord) {
          await saveMitigated(model, out, metadata, after, record, saveModel);
          return out;
        },
      };
    },
    async dispose() {
      pruned?.dispose();
      model.dispose();
    },
  };
}

function layersProbe(model: tfl.LayersModel, layer: MitigationLayer, shape: readonly [number, number, number], metadata: ModelMetadata): LayerProbe {
  const pre = metadata.preprocessing;
  const cache = async (images: Uint8Array, onBatch?: (done: number) => void): Promise<CachedActivations> => {
    const f = await computeFeatures(model, layer, images, shape, pre, true, onBatch);
    return { count: f.count, values: [f.full!] };
  };
  const predictKept = (c: CachedActivations, keep: Float32Array) => predictFromFeatures(model, layer, c.values[0], c.count, keep);
  return {
    layer,
    perNeuron: async (images, onBatch) => (await computeFeatures(model, layer, images, shape, pre, false, onBatch)).perNeuron,
    cache,
    predictKept,
    async predictKeptMany(images, keeps, onBatch) {
      const c = await cache(images, onBatch);
      const out: Int32Array[] = [];
      for (const keep of keeps) out.push(await predictKept(c, keep));
      return out;
    },
    dispose: async () => {},
  };
}
