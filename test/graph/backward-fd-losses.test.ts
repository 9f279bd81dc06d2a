/**
 * The programs' losses around the operators: a classifier ending in Softmax (the gradient enters
 * at the logits through Keras's clipped cross-entropy on probabilities) and the Neural Cleanse
 * release's swapped loss of the input-gradient program, against float64 central finite
 * differences of those losses, then on onnxruntime (see backward-fd.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadOnnxGraph } from '../../src/graph/onnx-load.js';
import { UnsupportedGraphError } from '../../src/graph/ir.js';
import { trainingProgram } from '../../src/graph/programs.js';
import type { NodeSpec, OperandSpec } from './op-models.js';
import { expectGradients } from './backward-fd.js';
import { opModel } from './op-models.js';

const operands: OperandSpec[] = [
  { name: 'x', dims: [2, 2, 4, 4] },
  { name: 'w', dims: [3, 2, 3, 3], init: true, scale: 0.3 },
  { name: 'b', dims: [3], init: true, scale: 0.1 },
  { name: 'fc.w', dims: [4, 12], init: true, scale: 0.4 },
  { name: 'fc.b', dims: [4], init: true, scale: 0.1 },
];
const body: NodeSpec[] = [
  { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
  { op: 'Tanh', inputs: ['c'], outputs: ['t'] },
  { op: 'Flatten', inputs: ['t'], outputs: ['f'] },
  { op: 'Gemm', inputs: ['f', 'fc.w', 'fc.b'], outputs: ['logits'], attrs: { transB: 1 } },
];
const withSoftmax = () => opModel({ operands, nodes: [...body, { op: 'Softmax', inputs: ['logits'], outputs: ['p'], attrs: { axis: 1 } }], outputs: ['p'] });

test('backward vs finite differences: a classifier ending in Softmax (clipped cross-entropy on its probabilities)', () => {
  const model = withSoftmax();
  assert.equal(loadOnnxGraph(model.bytes).endsInSoftmax, true);
  return expectGradients({ model });
});

test('backward vs finite differences: the release-swapped loss of the input-gradient program, on probabilities', () => expectGradients({ model: withSoftmax(), inputLoss: 'release-swapped' }));

test('backward vs finite differences: the release-swapped loss of the input-gradient program, on logits', () =>
  expectGradients({ model: opModel({ operands, nodes: body, outputs: ['logits'] }), inputLoss: 'release-swapped' }));

test("backward vs finite differences: a model whose values are named like the programs' own (x, out, target, scale, dx, loss, k__0, w__1)", () =>
  // Each program names its inputs x, target, scale, its outputs out, dx, loss, and its own values
  // prefix__n; a model using those names must not clash with them (onnxruntime refuses a value
  // defined twice).
  expectGradients({
    model: opModel({
      operands: [
        { name: 'x', dims: [2, 2, 3, 3] },
        { name: 'w__1', dims: [2, 2, 3, 3], init: true, scale: 0.3 },
        { name: 'scale.w', dims: [2, 1, 1], init: true, scale: 0.5, shift: 1 },
        { name: 'fc', dims: [18, 3], init: true, scale: 0.3 },
      ],
      nodes: [
        { op: 'Conv', inputs: ['x', 'w__1'], outputs: ['target'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
        { op: 'Mul', inputs: ['target', 'scale.w'], outputs: ['scale'] },
        { op: 'Tanh', inputs: ['scale'], outputs: ['dx'] },
        { op: 'Add', inputs: ['dx', 'target'], outputs: ['k__0'] },
        { op: 'Flatten', inputs: ['k__0'], outputs: ['loss'] },
        { op: 'MatMul', inputs: ['loss', 'fc'], outputs: ['out'] },
      ],
      outputs: ['out'],
    }),
  }));

test('a weight named like a program input or output is refused with its name', () => {
  const model = opModel({
    operands: [{ name: 'x', dims: [2, 2, 1, 1] }, { name: 'loss', dims: [2, 3], init: true }],
    nodes: [{ op: 'Flatten', inputs: ['x'], outputs: ['f'] }, { op: 'MatMul', inputs: ['f', 'loss'], outputs: ['y'] }],
    outputs: ['y'],
  });
  const graph = loadOnnxGraph(model.bytes);
  assert.throws(() => trainingProgram(graph), (e: unknown) => e instanceof UnsupportedGraphError && /weight 'loss'/.test((e as Error).message));
});
