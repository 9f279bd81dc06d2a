/**
 * The head program and silencing by weights, on the committed PyTorch exports: the head with every
 * unit kept gives the model's own scores; the head with units masked gives the scores of the model
 * whose weight slices for those units are zeroed (the file pruning writes) — on a residual network,
 * where the head reads the block's shortcut as a side input; and a residual sum is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadOnnxGraph } from '../../src/graph/onnx-load.js';
import { headOf } from '../../src/graph/programs.js';
import { silencingSlices, zeroSlices } from '../../src/graph/silence.js';
import { UnsupportedGraphError, type ClassifierGraph } from '../../src/graph/ir.js';
import { Random } from '../../src/random.js';
import { loadOrt } from './ort.js';
import { torchFixtures } from './torch-fixtures.js';

const fixture = (name: string): ClassifierGraph => {
  const f = torchFixtures().find((x) => x.fixture.name === name)!;
  return loadOnnxGraph(f.bytes, { source: `${name}.onnx` });
};

function lastOutput(graph: ClassifierGraph, op: string): string {
  const nodes = graph.nodes.filter((n) => n.op === op);
  return nodes[nodes.length - 1].outputs[0];
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const cases = [
  { name: 'resnet_small', value: (g: ClassifierGraph) => lastOutput(g, 'Conv'), sides: 1 },
  { name: 'bn_cnn_mnist', value: (g: ClassifierGraph) => g.nodes.filter((n) => n.op === 'Gemm').at(-1)!.inputs[0], sides: 0 },
  { name: 'bn_cnn_mnist', value: (g: ClassifierGraph) => lastOutput(g, 'Conv'), sides: 0 },
];

for (const c of cases) {
  test(`${c.name}: the head from an activation with units masked equals the model with their weights zeroed`, async (t) => {
    const ort = await loadOrt();
    if ('error' in ort) return t.skip(ort.error);
    const { createForwardRunner, createHeadRunner } = await import('../../src/graph/runtime.js');
    const graph = fixture(c.name);
    const value = c.value(graph);
    const head = headOf(graph, value);
    assert.equal(head.sides.length, c.sides, `side inputs of the head from '${value}'`);
    const n = 5;
    const rng = new Random(11);
    const x = Float32Array.from({ length: n * graph.input.shape.slice(1).reduce((p, d) => p * d, 1) }, () => rng.uniform(-1, 1));
    const forward = await createForwardRunner(graph, { activations: [value, ...head.sides] });
    const runner = await createHeadRunner(graph, head);
    const units = graph.shapes.get(value)![1];
    try {
      const full = await forward.run(x, n);
      const values = [value, ...head.sides].map((v) => full.activations[v]);
      const all = await runner.run(values[0], values.slice(1), new Float32Array(units).fill(1), n);
      assert.ok(maxAbsDiff(all, full.out) < 1e-5, 'every unit kept: the model itself');

      // The three most active units (a unit dead on these inputs would change nothing).
      const a = values[0];
      const per = a.length / (n * units);
      const mass = Array.from({ length: units }, (_, u) => {
        let m = 0;
        for (let i = 0; i < n; i++) for (let p = 0; p < per; p++) m += Math.abs(a[(i * units + u) * per + p]);
        return m;
      });
      const pruned = [...mass.keys()].sort((p, q) => mass[q] - mass[p]).slice(0, 3);
      const keep = new Float32Array(units).fill(1);
      for (const u of pruned) keep[u] = 0;
      const masked = await runner.run(values[0], values.slice(1), keep, n);
      assert.ok(maxAbsDiff(masked, full.out) > 1e-4, 'silencing three units changes the scores');

      const slices = silencingSlices(graph, value);
      assert.ok(slices.length >= 1);
      const weights = new Map(slices.map((s) => [s.weight, Float32Array.from(graph.weights.get(s.weight)!.data)]));
      zeroSlices(weights, (w) => graph.weights.get(w)!.dims, slices, pruned);
      const zeroed: ClassifierGraph = { ...graph, weights: new Map([...graph.weights].map(([k, w]) => [k, weights.has(k) ? { dims: w.dims, data: weights.get(k)! } : w])) };
      const z = await createForwardRunner(zeroed, { activations: [value] });
      try {
        const r = await z.run(x, n);
        const spatial = r.activations[value].length / (n * units);
        for (let i = 0; i < n; i++) for (const u of pruned) for (let p = 0; p < spatial; p++) assert.equal(r.activations[value][(i * units + u) * spatial + p], 0, `unit ${u} is exactly 0`);
        assert.ok(maxAbsDiff(r.out, masked) < 1e-5, `zeroed weights give the masked head's scores (${maxAbsDiff(r.out, masked)})`);
      } finally {
        await z.dispose();
      }
    } finally {
      await forward.dispose();
      await runner.dispose();
    }
  });
}

test('a residual sum cannot be silenced through weights; the reason names it', () => {
  const graph = fixture('resnet_small');
  const pooled = graph.nodes.find((n) => n.op === 'GlobalAveragePool')!.outputs[0];
  assert.throws(() => silencingSlices(graph, pooled), (e: unknown) => e instanceof UnsupportedGraphError && /residual connection/.test(e.message) && !e.message.includes('\n'));
  assert.throws(() => headOf(graph, graph.input.name), /not an activation/);
  assert.throws(() => silencingSlices(graph, 'nowhere'), /not a value of this graph/);
});
