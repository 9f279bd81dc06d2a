/**
 * Activations and broadcasting arithmetic: the generated gradients against float64 central finite
 * differences, then on onnxruntime (see backward-fd.ts). Every weight operand is trained (its
 * gradient checked), whichever side of the operator it is on and however it broadcasts.
 *
 * Activations see the input directly, drawn at least 0.02 from their kinks (ReLU's 0, Clip's
 * bounds, HardSigmoid's and HardSwish's corners), where the derivative is one-sided.
 */
import { test } from 'node:test';
import type { AttrValue, NodeSpec, OperandSpec } from './op-models.js';
import { awayFrom, expectGradients, flattened } from './backward-fd.js';

const DIMS = [2, 3, 3, 2];
const N_IN = DIMS.reduce((a, b) => a * b, 1);

const scalar = (name: string, v: number): OperandSpec => ({ name, dims: [], init: true, values: [v] });

interface ActivationCase {
  op: string;
  attrs?: Record<string, AttrValue>;
  /** Inputs are drawn from [lo, hi] away from these. */
  kinks: number[];
  lo: number;
  hi: number;
  extra?: OperandSpec[];
  opset?: number;
}

const activations: [string, ActivationCase][] = [
  ['Relu', { op: 'Relu', kinks: [0], lo: -3, hi: 3 }],
  ['LeakyRelu alpha 0.1', { op: 'LeakyRelu', attrs: { alpha: 0.1 }, kinks: [0], lo: -3, hi: 3 }],
  ['PRelu, slope per channel [3,1,1] (trained)', { op: 'PRelu', kinks: [0], lo: -3, hi: 3, extra: [{ name: 'slope', dims: [3, 1, 1], init: true, scale: 0.2, shift: 0.25 }] }],
  ['PRelu, slope over the last axis [2] (trained)', { op: 'PRelu', kinks: [0], lo: -3, hi: 3, extra: [{ name: 'slope', dims: [2], init: true, scale: 0.2, shift: 0.25 }] }],
  ['PRelu, one slope [1] (trained)', { op: 'PRelu', kinks: [0], lo: -3, hi: 3, extra: [{ name: 'slope', dims: [1], init: true, values: [0.3] }] }],
  ['Clip [-0.5, 1] (opset 13, bounds as inputs)', { op: 'Clip', kinks: [-0.5, 1], lo: -2, hi: 2, extra: [scalar('lo', -0.5), scalar('hi', 1)] }],
  ['Clip [0, 6] (ReLU6)', { op: 'Clip', kinks: [0, 6], lo: -2, hi: 8, extra: [scalar('lo', 0), scalar('hi', 6)] }],
  ['Clip with a minimum only', { op: 'Clip', kinks: [-0.25], lo: -2, hi: 2, extra: [scalar('lo', -0.25)] }],
  ['Clip [-1, 0.5] (opset 7, bounds as attributes)', { op: 'Clip', attrs: { min: -1, max: 0.5 }, kinks: [-1, 0.5], lo: -2, hi: 2, opset: 7 }],
  ['Sigmoid', { op: 'Sigmoid', kinks: [], lo: -4, hi: 4 }],
  ['Tanh', { op: 'Tanh', kinks: [], lo: -3, hi: 3 }],
  ['HardSigmoid (defaults: corners at ±2.5)', { op: 'HardSigmoid', kinks: [-2.5, 2.5], lo: -4, hi: 4 }],
  ['HardSigmoid alpha 0.3 beta 0.4 (corners at −4/3 and 2)', { op: 'HardSigmoid', attrs: { alpha: 0.3, beta: 0.4 }, kinks: [-4 / 3, 2], lo: -3, hi: 3 }],
  ['HardSwish (corners at ±3)', { op: 'HardSwish', kinks: [-3, 3], lo: -4.5, hi: 4.5 }],
];

for (const [name, c] of activations) {
  test(`backward vs finite differences: ${name}`, () =>
    expectGradients({
      model: flattened({
        opset: c.opset,
        operands: [{ name: 'x', dims: DIMS, values: awayFrom(N_IN, c.lo, c.hi, c.kinks) }, ...(c.extra ?? [])],
        nodes: [{ op: c.op, inputs: ['x', ...(c.extra ?? []).map((e) => e.name)], outputs: ['y'], attrs: c.attrs }],
        outputs: ['y'],
      }),
    }));
}

// ---------------------------------------------------------------------------------------------
// Add, Sub, Mul, Div

interface ArithmeticCase {
  x: number[];
  /** Operands besides x (weights, all trained). */
  operands: OperandSpec[];
  nodes: NodeSpec[];
  /** x drawn away from 0 (a denominator). */
  xAwayFromZero?: boolean;
}

const w = (name: string, dims: number[], options: Partial<OperandSpec> = {}): OperandSpec => ({ name, dims, init: true, scale: 0.7, ...options });
/** A denominator weight: magnitudes in [0.5, 1.5]. */
const denominator = (name: string, dims: number[]): OperandSpec => ({ name, dims, init: true, values: awayFrom(dims.reduce((a, b) => a * b, 1), -1.5, 1.5, [0], 0.5, 17) });

const arithmetic: [string, ArithmeticCase][] = [
  ['Add x [2,3,3,2] + w [3,1,1] (weight broadcast over batch and space)', { x: DIMS, operands: [w('w', [3, 1, 1])], nodes: [{ op: 'Add', inputs: ['x', 'w'], outputs: ['y'] }] }],
  ['Add w [3,1,1] + x [2,1,3,2] (both broadcast: x over channels, w over batch and space)', { x: [2, 1, 3, 2], operands: [w('w', [3, 1, 1])], nodes: [{ op: 'Add', inputs: ['w', 'x'], outputs: ['y'] }] }],
  ['Add x [2,3,3,2] + w [1,3,3,2] (same rank, batch broadcast)', { x: DIMS, operands: [w('w', [1, 3, 3, 2])], nodes: [{ op: 'Add', inputs: ['x', 'w'], outputs: ['y'] }] }],
  ['Sub x − w [2] (last axis)', { x: DIMS, operands: [w('w', [2])], nodes: [{ op: 'Sub', inputs: ['x', 'w'], outputs: ['y'] }] }],
  ['Sub w [3,1,1] − x [2,1,3,2] (weight first, both broadcast)', { x: [2, 1, 3, 2], operands: [w('w', [3, 1, 1])], nodes: [{ op: 'Sub', inputs: ['w', 'x'], outputs: ['y'] }] }],
  ['Sub x − ReduceMean(x over channels) (an operand broadcast from x itself)', { x: DIMS, operands: [], nodes: [{ op: 'ReduceMean', inputs: ['x'], outputs: ['m'], attrs: { axes: [1], keepdims: 1 } }, { op: 'Sub', inputs: ['x', 'm'], outputs: ['y'] }] }],
  ['Mul x [2,1,3,2] · w [3,1,1]', { x: [2, 1, 3, 2], operands: [w('w', [3, 1, 1])], nodes: [{ op: 'Mul', inputs: ['x', 'w'], outputs: ['y'] }] }],
  ['Mul w [1,3,1,2] · x (weight first)', { x: DIMS, operands: [w('w', [1, 3, 1, 2])], nodes: [{ op: 'Mul', inputs: ['w', 'x'], outputs: ['y'] }] }],
  ['Mul by a scalar weight []', { x: DIMS, operands: [w('w', [], { values: [0.8] })], nodes: [{ op: 'Mul', inputs: ['x', 'w'], outputs: ['y'] }] }],
  ['Mul x · x (one value read twice: the gradients add)', { x: DIMS, operands: [], nodes: [{ op: 'Mul', inputs: ['x', 'x'], outputs: ['y'] }] }],
  ['Div x / w [3,1,1]', { x: DIMS, operands: [denominator('w', [3, 1, 1])], nodes: [{ op: 'Div', inputs: ['x', 'w'], outputs: ['y'] }] }],
  ['Div w [3,1,1] / x [2,1,3,2] (x the denominator, both broadcast)', { x: [2, 1, 3, 2], xAwayFromZero: true, operands: [w('w', [3, 1, 1])], nodes: [{ op: 'Div', inputs: ['w', 'x'], outputs: ['y'] }] }],
  [
    'normalisation inside the graph: (x − mean) / std, then · γ + β',
    {
      x: DIMS,
      operands: [w('mean', [1, 3, 1, 1]), denominator('std', [1, 3, 1, 1]), w('gamma', [3, 1, 1]), w('beta', [3, 1, 1])],
      nodes: [
        { op: 'Sub', inputs: ['x', 'mean'], outputs: ['c'] },
        { op: 'Div', inputs: ['c', 'std'], outputs: ['n'] },
        { op: 'Mul', inputs: ['n', 'gamma'], outputs: ['s'] },
        { op: 'Add', inputs: ['s', 'beta'], outputs: ['y'] },
      ],
    },
  ],
  [
    'two branches joined: Tanh(x) · Sigmoid(x) + x (a residual)',
    {
      x: DIMS,
      operands: [],
      nodes: [
        { op: 'Tanh', inputs: ['x'], outputs: ['t'] },
        { op: 'Sigmoid', inputs: ['x'], outputs: ['s'] },
        { op: 'Mul', inputs: ['t', 's'], outputs: ['m'] },
        { op: 'Add', inputs: ['m', 'x'], outputs: ['y'] },
      ],
    },
  ],
];

for (const [name, c] of arithmetic) {
  const n = c.x.reduce((a, b) => a * b, 1);
  const x: OperandSpec = { name: 'x', dims: c.x, ...(c.xAwayFromZero ? { values: awayFrom(n, -2, 2, [0], 0.5) } : {}) };
  test(`backward vs finite differences: ${name}`, () => expectGradients({ model: flattened({ operands: [x, ...c.operands], nodes: c.nodes, outputs: ['y'] }) }));
}
