/**
 * The programs' losses around the operators: a classifier ending in Softmax (the gradient enters
 * at the logits through Keras's clipped cross-entropy on probabilities) and the Neural Cleanse
 * release's swapped loss of the input-gradient program, against float64 central finite
 * differences of those losses, then on onnxruntime (see backward-fd.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadOnnxGraph } from '../../src/graph/onnx-load.js';
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
