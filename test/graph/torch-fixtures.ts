/**
 * The committed PyTorch fixtures (test/fixtures/torch, written by make_fixtures.py): their JSON
 * records and .onnx bytes, and the loss they record, for any test that checks a graph against them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/data/paths.js';
import { softmaxCrossEntropy } from './op-models.js';

export const TORCH_FIXTURES_DIR = join(packageRoot(), 'test', 'fixtures', 'torch');
/** The base learner of `certify --learner FILE.onnx` and PyTorch's initialisation of it (make_learner_fixture.py): not gradient fixtures, so a folder of their own. */
export const LEARNER_FIXTURES_DIR = join(packageRoot(), 'test', 'fixtures', 'torch-learner');
/** A net with BatchNorm2d and BatchNorm1d and PyTorch's running statistics after train-mode steps (make_bn_fixture.py). */
export const BATCH_NORM_FIXTURES_DIR = join(packageRoot(), 'test', 'fixtures', 'torch-bn');

export interface Values {
  dims: number[];
  data: number[];
}

/** A fixture's JSON (fields written by make_fixtures.py). */
export interface TorchFixture {
  name: string;
  opset: number;
  input_name: string;
  output_name: string;
  output_kind: 'logits' | 'probabilities';
  classes: number;
  ops: Record<string, number>;
  x: Values;
  labels: number[];
  outputs: Values;
  loss?: number;
  dx?: Values;
  /** ONNX initializer name → PyTorch parameter name. */
  parameters: Record<string, string>;
  /** Initializers that are PyTorch buffers (BatchNorm running statistics, constants). */
  buffers: Record<string, string>;
  /** Initializers that are neither (made by the exporter, e.g. a Conv with its BatchNorm folded in). */
  other_initializers: string[];
  grads?: Record<string, Values>;
}

/** Every committed fixture: its JSON and the bytes of its .onnx. */
export function torchFixtures(): { fixture: TorchFixture; bytes: Uint8Array }[] {
  return readdirSync(TORCH_FIXTURES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const fixture = JSON.parse(readFileSync(join(TORCH_FIXTURES_DIR, f), 'utf8')) as TorchFixture;
      return { fixture, bytes: new Uint8Array(readFileSync(join(TORCH_FIXTURES_DIR, `${fixture.name}.onnx`))) };
    });
}

/** The fixture's loss of an output batch: softmax cross-entropy of logits, or −log of probabilities. */
export function fixtureLoss(f: TorchFixture, out: ArrayLike<number>): number {
  if (f.output_kind === 'logits') return softmaxCrossEntropy(out, f.labels, f.classes);
  return -f.labels.reduce((s, label, n) => s + Math.log(out[n * f.classes + label]), 0) / f.labels.length;
}
