/**
 * PyTorch's default initialisation on a graph (src/nn/torch-init.ts) against PyTorch itself: the
 * fixture learner_tiny.json gives, for every initializer of a small PyTorch net, the rule PyTorch
 * applies (the bound computed by its own helpers, or the constant) and the extremes of 200 nets
 * PyTorch constructed; the re-initialisation must give the same rules, values inside the bounds
 * reaching them as PyTorch's do, the same numbers for a seed and other numbers for another, and
 * nothing of the file's weights. The same net exported untrained reads shared tensors, which are
 * untied. Gemm without transB, MatMul and a bias Add take their fan-in from the right dimension.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClassifierGraph } from '../../src/graph/ir.js';
import { loadOnnxGraph } from '../../src/graph/onnx-load.js';
import { reinitialiseLikeTorch, torchInitRules, untieWeights } from '../../src/nn/torch-init.js';
import { buildModel } from '../graph/op-models.js';
import { LEARNER_FIXTURES_DIR, TORCH_FIXTURES_DIR } from '../graph/torch-fixtures.js';

interface FixtureRule {
  kind: 'uniform' | 'constant';
  bound?: number;
  fan_in?: number;
  value?: number;
  dims: number[];
  observed_min: number;
  observed_max: number;
}
const fixture = JSON.parse(readFileSync(join(LEARNER_FIXTURES_DIR, 'learner_tiny.json'), 'utf8')) as { resets: number; initializers: Record<string, FixtureRule> };
const load = (file: string): ClassifierGraph => loadOnnxGraph(readFileSync(join(LEARNER_FIXTURES_DIR, file)), { source: file });

test("the rule is PyTorch's: the same bound or constant for every parameter and buffer", () => {
  const graph = load('learner_tiny.onnx');
  const rules = torchInitRules(untieWeights(graph));
  assert.deepEqual([...rules.keys()].sort(), Object.keys(fixture.initializers).sort(), 'every PyTorch parameter and buffer, nothing else');
  for (const [name, want] of Object.entries(fixture.initializers)) {
    const rule = rules.get(name)!;
    assert.equal(rule.kind, want.kind, name);
    if (rule.kind === 'uniform') {
      assert.equal(rule.fanIn, want.fan_in, `${name}: fan-in`);
      assert.ok(Math.abs(rule.bound - want.bound!) <= 1e-12 * want.bound!, `${name}: bound ${rule.bound} vs PyTorch's ${want.bound}`);
    } else assert.equal(rule.value, want.value, name);
  }
});

test("the values: inside PyTorch's bounds and reaching them as PyTorch's do, per seed the same, across seeds different, none of the file's", () => {
  const graph = load('learner_tiny.onnx');
  const a = reinitialiseLikeTorch(graph, 7);
  const b = reinitialiseLikeTorch(graph, 7);
  const c = reinitialiseLikeTorch(graph, 8);
  assert.equal(a.summary.tensors, 21);
  assert.equal(a.summary.untied, 0);
  const lo = new Map<string, number>();
  const hi = new Map<string, number>();
  // As many nets as PyTorch constructed for the fixture's extremes.
  for (let seed = 0; seed < fixture.resets; seed++) {
    const { graph: g } = reinitialiseLikeTorch(graph, 1000 + seed);
    for (const name of Object.keys(fixture.initializers)) {
      const w = g.weights.get(name)!.data;
      lo.set(name, Math.min(lo.get(name) ?? Infinity, ...w));
      hi.set(name, Math.max(hi.get(name) ?? -Infinity, ...w));
    }
  }
  for (const [name, want] of Object.entries(fixture.initializers)) {
    const w = a.graph.weights.get(name)!;
    assert.deepEqual(w.dims, want.dims, name);
    assert.deepEqual(w.data, b.graph.weights.get(name)!.data, `${name}: the same seed gives the same values`);
    assert.notDeepEqual(w.data, graph.weights.get(name)!.data, `${name}: the file's values are gone`);
    if (want.kind === 'constant') {
      assert.ok(w.data.every((v) => v === want.value), `${name}: all ${want.value}`);
      continue;
    }
    const bound = want.bound!;
    assert.notDeepEqual(w.data, c.graph.weights.get(name)!.data, `${name}: another seed, other values`);
    // float32 rounding may land a hair beyond the bound: |v| ≤ bound·(1 + 2⁻²³).
    assert.ok(lo.get(name)! >= -bound * (1 + 2 ** -23) && hi.get(name)! <= bound * (1 + 2 ** -23), `${name}: within ±${bound}`);
    for (const [ours, torch] of [
      [lo.get(name)!, want.observed_min],
      [hi.get(name)!, want.observed_max],
    ]) {
      assert.ok(Math.abs(ours - torch) < 0.03 * bound, `${name}: extreme ${ours} vs PyTorch's ${torch} over ${fixture.resets} nets (bound ${bound})`);
    }
    if (w.data.length >= 1000) {
      const mean = w.data.reduce((s, v) => s + v, 0) / w.data.length;
      const variance = w.data.reduce((s, v) => s + (v - mean) ** 2, 0) / w.data.length;
      assert.ok(Math.abs(mean) < (5 * bound) / Math.sqrt(3 * w.data.length), `${name}: mean ${mean} ≈ 0`);
      assert.ok(Math.abs(variance / (bound * bound / 3) - 1) < 0.1, `${name}: variance ${variance} ≈ bound²/3`);
    }
  }
  assert.deepEqual(graph.weights.get('fc1.weight')!.data, load('learner_tiny.onnx').weights.get('fc1.weight')!.data, "the caller's graph is not changed");
});

test('an untrained net exported as it is: its BatchNorms read one array of ones and one of zeros; each tensor gets its own', () => {
  const fresh = load('learner_tiny_fresh.onnx');
  const arrays = (g: ClassifierGraph) => new Set([...g.weights.values()].map((w) => w.data)).size;
  assert.ok(arrays(fresh) < fresh.weights.size, 'the export merged equal initializers (Identity nodes read one)');
  const { graph, summary } = reinitialiseLikeTorch(fresh, 3);
  assert.equal(arrays(graph), graph.weights.size);
  assert.equal(summary.tensors, 21, 'as many as the net has parameters and buffers');
  for (const n of graph.nodes.filter((x) => x.op === 'BatchNormalization')) assert.deepEqual(n.inputs.slice(1).map((i) => graph.weights.get(i)!.data[0]), [1, 0, 0, 1]);
});

test('a tensor read in several places is untied, one copy per use: two BatchNorms reading one scale (also as variance) and one bias (also as mean)', () => {
  const bytes = buildModel({
    inputs: [{ name: 'x', dims: ['N', 2, 2, 2] }],
    outputs: [{ name: 'y', dims: ['N', 3] }],
    initializers: [
      { name: 'cw', dims: [2, 2, 1, 1], data: [1, 2, 3, 4] },
      { name: 's', dims: [2], data: [1, 1] },
      { name: 'b', dims: [2], data: [0, 0] },
      { name: 'shape', dims: [2], data: [-1, 8], type: 'int64' },
      { name: 'gw', dims: [3, 8], data: new Array(24).fill(0.5) },
      { name: 'gb', dims: [3], data: [0, 0, 0] },
    ],
    nodes: [
      { op: 'Conv', inputs: ['x', 'cw'], outputs: ['c'], name: 'conv' },
      { op: 'BatchNormalization', inputs: ['c', 's', 'b', 'b', 's'], outputs: ['n1'], name: 'bn1' },
      { op: 'BatchNormalization', inputs: ['n1', 's', 'b', 'b', 's'], outputs: ['n2'], name: 'bn2' },
      { op: 'Reshape', inputs: ['n2', 'shape'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'gw', 'gb'], outputs: ['y'], attrs: { transB: 1 } },
    ],
  });
  const tied = loadOnnxGraph(bytes);
  assert.equal(tied.trainable.size, 5, 'tied: one scale and one bias for both BatchNorms');
  const { graph, summary } = reinitialiseLikeTorch(tied, 1);
  const uses = graph.nodes.flatMap((n) => n.inputs.filter((i) => graph.weights.has(i)));
  assert.equal(new Set(uses).size, uses.length, 'every tensor read once');
  assert.deepEqual(graph.nodes.find((n) => n.name === 'bn1')!.inputs.slice(1), ['s', 'b', 'bn1:3', 'bn1:4']);
  assert.deepEqual(graph.nodes.find((n) => n.name === 'bn2')!.inputs.slice(1), ['bn2:1', 'bn2:2', 'bn2:3', 'bn2:4']);
  assert.equal(summary.untied, 6);
  assert.equal(graph.trainable.size, 7, 'the conv, two scales and two biases, the Gemm');
  assert.equal(tied.nodes.find((n) => n.name === 'bn2')!.inputs[1], 's', "the caller's graph is not changed");
});

test('fan-in: Gemm without transB from its weight rows, MatMul from its inner size, a bias Add from the layer before it', () => {
  const w = (name: string, dims: number[]) => ({ name, dims, data: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => i + 1) });
  const bytes = buildModel({
    inputs: [{ name: 'x', dims: ['N', 1, 2, 2] }],
    outputs: [{ name: 'y', dims: ['N', 3] }],
    initializers: [w('shape', [2]), w('mm', [4, 6]), w('mmb', [6]), w('gb', [6, 3]), w('gc', [3])].map((t) => (t.name === 'shape' ? { ...t, data: [-1, 4], type: 'int64' as const } : t)),
    nodes: [
      { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['f'] },
      { op: 'MatMul', inputs: ['f', 'mm'], outputs: ['h'] },
      { op: 'Add', inputs: ['h', 'mmb'], outputs: ['hb'] },
      { op: 'Gemm', inputs: ['hb', 'gb', 'gc'], outputs: ['y'], attrs: { transB: 0 } },
    ],
  });
  const rules = torchInitRules(untieWeights(loadOnnxGraph(bytes)));
  const fans = Object.fromEntries([...rules].map(([k, r]) => [k, r.kind === 'uniform' ? r.fanIn : NaN]));
  assert.deepEqual(fans, { mm: 4, mmb: 4, gb: 6, gc: 6 });
});
