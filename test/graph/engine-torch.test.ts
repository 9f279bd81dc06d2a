/**
 * The graph engine on models exported by torch.onnx.export (test/fixtures/torch): outputs, the
 * loss and every parameter's gradient against the values PyTorch computed, and an
 * unsupported operator refused with its node, op type and the supported list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadOnnxGraph } from '../../src/graph/onnx-load.js';
import { UnsupportedGraphError } from '../../src/graph/ir.js';
import { createForwardRunner, createGradientRunner } from '../../src/graph/runtime.js';
import { torchFixtures } from './torch-fixtures.js';

const TOLERANCE = 1e-4;

function relative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return a.length === b.length ? Math.sqrt(num / Math.max(den, 1e-30)) : Infinity;
}

/** The output count a fixture's shape declares. */
const out0 = (f: { labels: number[]; classes: number }): number => f.labels.length * f.classes;

const flat = (v: unknown): number[] => (Array.isArray(v) ? (v as unknown[]).flat(Infinity as 1) : ((v as { data: number[] }).data ?? [])) as number[];

for (const { fixture, bytes } of torchFixtures()) {
  if (fixture.name.startsWith('unsupported')) {
    test(`graph engine: ${fixture.name} is refused with its node and op type`, () => {
      assert.throws(
        () => loadOnnxGraph(bytes, { source: `${fixture.name}.onnx` }),
        (e: unknown) => e instanceof UnsupportedGraphError && /operator LSTM/.test((e as Error).message) && /supported: .*Conv/.test((e as Error).message),
      );
    });
    continue;
  }
  test(`graph engine: ${fixture.name} (torch.onnx.export, opset ${fixture.opset}) — outputs, loss and every parameter's gradient equal PyTorch's`, async () => {
    const graph = loadOnnxGraph(bytes, { source: `${fixture.name}.onnx` });
    assert.equal(graph.endsInSoftmax, fixture.output_kind === 'probabilities');
    const x = Float32Array.from(flat(fixture.x));
    const batch = fixture.labels.length;
    const forward = await createForwardRunner(graph);
    const gradient = await createGradientRunner(graph, { trainable: new Set(Object.keys(fixture.grads ?? {}).filter((k) => graph.weights.has(k))) });
    try {
      assert.ok(x.length > 0 && flat(fixture.outputs).length === out0(fixture), 'the fixture holds its numbers');
      const { out } = await forward.run(x, batch);
      assert.ok(relative(out, flat(fixture.outputs)) <= TOLERANCE, `outputs: ${relative(out, flat(fixture.outputs))}`);
      const weights = new Map([...graph.weights].map(([k, v]) => [k, v.data]));
      const g = await gradient.run(weights, { x, batch, labels: Int32Array.from(fixture.labels) });
      if (fixture.loss !== undefined && fixture.output_kind === 'logits') assert.ok(Math.abs(g.loss - fixture.loss) <= 1e-4 * Math.max(1, fixture.loss), `loss ${g.loss} vs ${fixture.loss}`);
      for (const [name, want] of Object.entries(fixture.grads ?? {})) {
        const got = g.grads.get(name);
        assert.ok(flat(want).length > 0, `${name}: the fixture holds its gradient`);
        assert.ok(got, `a gradient for ${name}`);
        const e = relative(got, flat(want));
        assert.ok(e <= (fixture.output_kind === 'logits' ? TOLERANCE : 1e-3), `d${name}: relative error ${e}`);
      }
      assert.ok(Object.keys(fixture.grads ?? {}).length > 0);
    } finally {
      await forward.dispose();
      await gradient.dispose();
    }
  });
}
