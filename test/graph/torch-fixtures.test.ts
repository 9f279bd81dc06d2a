/**
 * The committed PyTorch fixtures (test/fixtures/torch, made by make_fixtures.py with torch 1.13):
 * each exported graph run on onnxruntime gives PyTorch's outputs (this checks the fixture and the
 * export), and the float64 reference gives them to float64 precision, the same loss, and — by
 * central differences along random directions — the recorded input gradient and the gradient of
 * every parameter under its ONNX initializer name (this checks the gradients and the name mapping).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadReference, type ReferenceModel } from './reference.js';
import { randomValues, relativeError } from './op-models.js';
import { loadOrt, runOrt } from './ort.js';
import { fixtureLoss, torchFixtures } from './torch-fixtures.js';
import { Random } from '../../src/random.js';

/** (L(p + h·v) − L(p − h·v)) / 2h for a seeded direction v, and the recorded gradient · v. */
function directional(loss: (p: Float64Array) => number, p: ArrayLike<number>, grad: ArrayLike<number>, seed: number): { fd: number; recorded: number } {
  const v = randomValues(new Random(seed), p.length);
  const h = 1e-6;
  const shifted = (sign: number) => Float64Array.from(p, (a, i) => a + sign * h * v[i]);
  const fd = (loss(shifted(1)) - loss(shifted(-1))) / (2 * h);
  const recorded = v.reduce((s, vi, i) => s + vi * grad[i], 0);
  return { fd, recorded };
}

const fixtures = torchFixtures();

let ortMissing: string | undefined;
before(async () => {
  const ort = await loadOrt();
  if ('error' in ort) ortMissing = ort.error;
});

test('the fixtures are there, small, and cover what the engine must take', () => {
  const names = fixtures.map((f) => f.fixture.name);
  for (const n of ['resnet_small', 'resnet_small_default_export', 'bn_cnn_mnist', 'normalized_inside', 'mobile_block', 'softmax_out', 'unsupported_lstm']) {
    assert.ok(names.includes(n), `fixture ${n} missing`);
  }
  const all = new Set(fixtures.flatMap((f) => Object.keys(f.fixture.ops)));
  for (const op of ['BatchNormalization', 'Add', 'GlobalAveragePool', 'MaxPool', 'AveragePool', 'Sub', 'Div', 'Clip', 'HardSwish', 'HardSigmoid', 'Softmax', 'Shape', 'Gather', 'Reshape', 'LSTM']) {
    assert.ok(all.has(op), `no fixture has ${op}`);
  }
  const opsets = new Set(fixtures.map((f) => f.fixture.opset));
  for (const o of [11, 13, 17]) assert.ok(opsets.has(o), `no fixture at opset ${o}`);
  for (const { fixture, bytes } of fixtures) {
    assert.ok(bytes.length < 1_000_000, `${fixture.name}.onnx is ${bytes.length} B`);
    assert.equal(fixture.x.dims[0], 4);
  }
});

for (const { fixture: f, bytes } of fixtures) {
  describe(`fixture ${f.name} (opset ${f.opset})`, () => {
    const x = { data: Float64Array.from(f.x.data), dims: f.x.dims };

    test('onnxruntime gives PyTorch\'s outputs, on the batch and on one image (dynamic batch)', async (t) => {
      if (ortMissing) return t.skip(`onnxruntime-node not available: ${ortMissing}`);
      const out = await runOrt(bytes, { [f.input_name]: x });
      assert.deepEqual(out[f.output_name].dims, f.outputs.dims);
      const e = relativeError(out[f.output_name].data, f.outputs.data);
      assert.ok(e < 1e-5, `relative error ${e.toExponential(2)}`);
      const per = f.x.data.length / f.x.dims[0];
      const one = await runOrt(bytes, { [f.input_name]: { data: x.data.subarray(0, per), dims: [1, ...f.x.dims.slice(1)] } });
      assert.ok(relativeError(one[f.output_name].data, f.outputs.data.slice(0, f.classes)) < 1e-5);
    });

    if (f.ops.LSTM) {
      test('the reference refuses it, naming the op', () => {
        assert.throws(() => loadReference(bytes), /op LSTM .* is not supported/);
      });
      return;
    }

    let ref: ReferenceModel;
    before(() => {
      ref = loadReference(bytes);
    });

    test('the float64 reference gives PyTorch\'s (float64) outputs and loss', () => {
      const out = ref.run({ [f.input_name]: x })[f.output_name];
      assert.deepEqual(out.dims, f.outputs.dims);
      const e = relativeError(out.data, f.outputs.data);
      assert.ok(e < 1e-7, `relative error ${e.toExponential(2)}`);
      assert.ok(Math.abs(fixtureLoss(f, out.data) - f.loss!) < 1e-8 * Math.max(1, f.loss!));
    });

    test('the recorded input gradient matches central differences of the reference', () => {
      const loss = (xv: Float64Array) => fixtureLoss(f, ref.run({ [f.input_name]: { data: xv, dims: f.x.dims } })[f.output_name].data);
      const { fd, recorded } = directional(loss, x.data, f.dx!.data, 1);
      assert.ok(Math.abs(fd - recorded) < 1e-6 * Math.max(1e-3, Math.abs(recorded)), `d/dx · v: finite differences ${fd}, recorded ${recorded}`);
    });

    test('every parameter is an initializer of its recorded shape, and its recorded gradient matches central differences', () => {
      const names = Object.keys(f.grads!);
      assert.ok(names.length > 0);
      assert.deepEqual(new Set(names), new Set(Object.keys(f.parameters)));
      for (const [k, name] of names.entries()) {
        const init = ref.initializer(name);
        assert.deepEqual(init.dims, f.grads![name].dims, `${name}: dims`);
        const loss = (p: Float64Array) => fixtureLoss(f, ref.run({ [f.input_name]: x }, { [name]: p })[f.output_name].data);
        const { fd, recorded } = directional(loss, init.data, f.grads![name].data, 100 + k);
        assert.ok(Math.abs(fd - recorded) < 1e-6 * Math.max(1e-3, Math.abs(recorded)), `${name} (${f.parameters[name]}): finite differences ${fd}, recorded ${recorded}`);
      }
      for (const name of [...Object.keys(f.buffers), ...f.other_initializers]) assert.ok(ref.initializerNames.includes(name), `${name} is not an initializer`);
    });
  });
}
