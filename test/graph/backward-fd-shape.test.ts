/**
 * Layout and matrix operators — Reshape (and Flatten, Squeeze, Unsqueeze, which load as Reshape),
 * Transpose, Concat, Pad, Gemm, MatMul, Softmax, LogSoftmax — and Dropout with a mask in the
 * training program: the generated gradients against float64 central finite differences, then on
 * onnxruntime (see backward-fd.ts).
 */
import { test } from 'node:test';
import type { ClassifierGraph } from '../../src/graph/ir.js';
import { dropoutMaskName } from '../../src/graph/programs.js';
import { Random } from '../../src/random.js';
import { loadReference } from './reference.js';
import type { NodeSpec, OperandSpec } from './op-models.js';
import { expectGradients, flattened } from './backward-fd.js';

const w = (name: string, dims: number[], options: Partial<OperandSpec> = {}): OperandSpec => ({ name, dims, init: true, scale: 0.7, ...options });
const i64 = (name: string, values: number[]): OperandSpec => ({ name, dims: [values.length], init: true, type: 'int64', values });

interface Case {
  x: number[];
  operands?: OperandSpec[];
  nodes: NodeSpec[];
  opset?: number;
}

const cases: [string, Case][] = [
  // Reshape, Transpose
  ['Reshape [N,3,2,2] → [N,4,3] → Transpose [0,2,1]', { x: [2, 3, 2, 2], operands: [i64('shape', [0, 4, 3])], nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['r'] }, { op: 'Transpose', inputs: ['r'], outputs: ['y'], attrs: { perm: [0, 2, 1] } }] }],
  ['Transpose [0,2,3,1] (to channels last) · w [3]', { x: [2, 3, 2, 2], operands: [w('w', [3])], nodes: [{ op: 'Transpose', inputs: ['x'], outputs: ['t'], attrs: { perm: [0, 2, 3, 1] } }, { op: 'Mul', inputs: ['t', 'w'], outputs: ['y'] }] }],
  ['Transpose [0,3,1,2] (from channels last) + w [2,1,1]', { x: [2, 3, 4, 2], operands: [w('w', [2, 1, 1])], nodes: [{ op: 'Transpose', inputs: ['x'], outputs: ['t'], attrs: { perm: [0, 3, 1, 2] } }, { op: 'Add', inputs: ['t', 'w'], outputs: ['y'] }] }],
  [
    'Squeeze then Unsqueeze (opset 13, axes as inputs) · w [1,1,4]',
    {
      x: [2, 1, 3, 4],
      opset: 13,
      operands: [i64('sq', [1]), i64('unsq', [2]), w('w', [1, 1, 4])],
      nodes: [{ op: 'Squeeze', inputs: ['x', 'sq'], outputs: ['s'] }, { op: 'Unsqueeze', inputs: ['s', 'unsq'], outputs: ['u'] }, { op: 'Mul', inputs: ['u', 'w'], outputs: ['y'] }],
    },
  ],
  // Concat
  [
    'Concat of x, Tanh(x) and x · w on channels',
    {
      x: [2, 2, 3, 2],
      operands: [w('w', [2, 1, 1])],
      nodes: [
        { op: 'Tanh', inputs: ['x'], outputs: ['t'] },
        { op: 'Mul', inputs: ['x', 'w'], outputs: ['m'] },
        { op: 'Concat', inputs: ['x', 't', 'm'], outputs: ['y'], attrs: { axis: 1 } },
      ],
    },
  ],
  [
    'Concat of uneven parts on channels (x and a 1x1 Conv of it)',
    { x: [2, 2, 3, 2], operands: [w('w', [1, 2, 1, 1])], nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { kernel_shape: [1, 1] } }, { op: 'Concat', inputs: ['c', 'x'], outputs: ['y'], attrs: { axis: 1 } }] },
  ],
  [
    'Concat of uneven parts on the last axis (negative axis)',
    {
      x: [2, 2, 3, 4],
      nodes: [
        { op: 'AveragePool', inputs: ['x'], outputs: ['p'], attrs: { kernel_shape: [1, 2], strides: [1, 2] } },
        { op: 'Concat', inputs: ['x', 'p'], outputs: ['y'], attrs: { axis: -1 } },
      ],
    },
  ],
  // Pad
  ['Pad constant 0.5, uneven pads on H and W (opset 13)', { x: [2, 2, 3, 2], opset: 13, operands: [i64('pads', [0, 0, 1, 2, 0, 0, 2, 1]), { name: 'v', dims: [], init: true, values: [0.5] }], nodes: [{ op: 'Pad', inputs: ['x', 'pads', 'v'], outputs: ['y'] }] }],
  ['Pad on channels (opset 11)', { x: [2, 2, 3, 2], opset: 11, operands: [i64('pads', [0, 1, 0, 0, 0, 2, 0, 0])], nodes: [{ op: 'Pad', inputs: ['x', 'pads'], outputs: ['y'] }] }],
  [
    'Pad with axes (opset 18) then a stride-2 Conv',
    {
      x: [2, 2, 4, 4],
      opset: 18,
      operands: [i64('pads', [1, 0, 0, 1]), i64('axes', [2, 3]), w('w', [2, 2, 3, 3], { scale: 0.3 })],
      nodes: [{ op: 'Pad', inputs: ['x', 'pads', '', 'axes'], outputs: ['p'] }, { op: 'Conv', inputs: ['p', 'w'], outputs: ['y'], attrs: { kernel_shape: [3, 3], strides: [2, 2] } }],
    },
  ],
  // Gemm, MatMul (after a Flatten: [N, 12])
  ['Gemm alpha 0.7 beta 1.3, C [5]', gemmCase({ alpha: 0.7, beta: 1.3 }, [12, 5], [5])],
  ['Gemm transB, C [1,5]', gemmCase({ transB: 1 }, [5, 12], [1, 5])],
  // A bias shared by every class moves no softmax: a Tanh after the Gemm gives it a gradient.
  ['Gemm transB alpha 1.5, C [1] (a broadcast scalar), then Tanh', gemmCase({ transB: 1, alpha: 1.5 }, [5, 12], [1], 'Tanh')],
  ['Gemm without C', gemmCase({}, [12, 5], undefined)],
  [
    'Gemm → Relu → Gemm (transB), the hidden layer away from 0',
    {
      x: [3, 2, 2, 3],
      operands: [w('w1', [6, 12], { scale: 0.3 }), w('b1', [6], { values: [0.9, -0.8, 0.7, -0.9, 0.8, 0.75] }), w('w2', [4, 6], { scale: 0.4 }), w('b2', [4], { scale: 0.1 })],
      nodes: [
        { op: 'Flatten', inputs: ['x'], outputs: ['f'] },
        { op: 'Gemm', inputs: ['f', 'w1', 'b1'], outputs: ['h'], attrs: { transB: 1 } },
        { op: 'Relu', inputs: ['h'], outputs: ['r'] },
        { op: 'Gemm', inputs: ['r', 'w2', 'b2'], outputs: ['y'], attrs: { transB: 1 } },
      ],
    },
  ],
  ['MatMul [N,2,3,4] × w [4,3] (a batched matrix product)', { x: [2, 2, 3, 4], operands: [w('w', [4, 3], { scale: 0.5 })], nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }] }],
  [
    'Flatten → MatMul w [12,5] → Add b (tf2onnx Dense)',
    { x: [2, 2, 2, 3], operands: [w('w', [12, 5], { scale: 0.3 }), w('b', [5], { scale: 0.1 })], nodes: [{ op: 'Flatten', inputs: ['x'], outputs: ['f'] }, { op: 'MatMul', inputs: ['f', 'w'], outputs: ['m'] }, { op: 'Add', inputs: ['m', 'b'], outputs: ['y'] }] },
  ],
  // Softmax, LogSoftmax inside the graph (a model ending in Softmax is differentiated from its logits)
  ['Softmax over channels (axis 1)', { x: [2, 3, 2, 2], nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: 1 } }] }],
  ['Softmax over the last axis', { x: [2, 2, 2, 3], nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: -1 } }] }],
  ['Softmax opset 11 (the last axis)', { x: [2, 2, 2, 3], opset: 11, nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: 3 } }] }],
  ['LogSoftmax over channels (axis 1)', { x: [2, 3, 2, 2], nodes: [{ op: 'LogSoftmax', inputs: ['x'], outputs: ['y'], attrs: { axis: 1 } }] }],
  ['LogSoftmax over the last axis', { x: [2, 2, 2, 3], nodes: [{ op: 'LogSoftmax', inputs: ['x'], outputs: ['y'], attrs: { axis: -1 } }] }],
];

function gemmCase(attrs: Record<string, number>, bDims: number[], cDims: number[] | undefined, after?: string): Case {
  const gemm: NodeSpec = { op: 'Gemm', inputs: cDims ? ['f', 'b', 'c'] : ['f', 'b'], outputs: [after ? 'g' : 'y'], attrs };
  return {
    x: [2, 2, 2, 3],
    operands: [w('b', bDims, { scale: 0.3 }), ...(cDims ? [w('c', cDims, { scale: 0.2 })] : [])],
    nodes: [
      { op: 'Flatten', inputs: ['x'], outputs: ['f'] },
      gemm,
      ...(after ? [{ op: after, inputs: ['g'], outputs: ['y'] }] : []),
    ],
  };
}

for (const [name, c] of cases) {
  test(`backward vs finite differences: ${name}`, () => expectGradients({ model: flattened({ opset: c.opset, operands: [{ name: 'x', dims: c.x, scale: 1.5 }, ...(c.operands ?? [])], nodes: c.nodes, outputs: ['y'] }) }));
}

test('backward vs finite differences: Dropout in the training program (a fed mask) after a Conv', async () => {
  // ONNX files never keep a Dropout (the loader drops it); the tf.layers front-end writes one. The
  // training program multiplies by the mask it is fed (0 or 1/(1 − rate)); the input-gradient
  // program passes the gradient through.
  const dims = [2, 2, 4, 4];
  const conv: NodeSpec = { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } };
  const operands: OperandSpec[] = [{ name: 'x', dims }, w('w', [3, 2, 3, 3], { scale: 0.3 })];
  const model = flattened({ operands, nodes: [conv], outputs: ['c'] });
  const rng = new Random(21);
  const mask = Float64Array.from({ length: 2 * 3 * 4 * 4 }, () => (rng.next() < 0.5 ? 0 : 2));
  const masked = loadReference(flattened({ operands: [...operands, { name: 'mask', dims: [2, 3, 4, 4], init: true, values: mask }], nodes: [conv, { op: 'Mul', inputs: ['c', 'mask'], outputs: ['d'] }], outputs: ['d'] }).bytes);
  const withDropout = (graph: ClassifierGraph): ClassifierGraph => {
    const shapes = new Map(graph.shapes);
    shapes.set('d', graph.shapes.get('c')!);
    const nodes = graph.nodes.flatMap((n) =>
      n.outputs[0] === 'c' ? [n, { name: 'drop', op: 'Dropout' as const, inputs: ['c'], outputs: ['d'], attrs: { rate: 0.5 } }] : [{ ...n, inputs: n.inputs.map((i) => (i === 'c' ? 'd' : i)) }],
    );
    return { ...graph, nodes, shapes };
  };
  await expectGradients({
    model,
    rewrite: withDropout,
    extraFeeds: { [dropoutMaskName('drop')]: { data: mask, dims: [2, 3, 4, 4] } },
    trainForward: (x, weights) => masked.run({ x: { data: x, dims } }, { w: weights.w }).logits.data,
  });
});
