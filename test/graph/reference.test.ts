/**
 * The float64 reference interpreter against onnxruntime's CPU kernels, op by op on small models
 * with seeded random values: this validates the reference itself (onnxruntime computes in float32,
 * so they agree to ~1e-6 relative). Then the ops the reference refuses, and the opset-dependent
 * semantics (Softmax's axis, axes as attribute or input) checked against hand-computed values.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadReference } from './reference.js';
import { binaryOp, batchNorm, buildModel, conv, convTranspose, gemm, opModel, pool, relativeError, residualBlock, softmax, unaryOp, type OpModel } from './op-models.js';
import { loadOrt, runOrt } from './ort.js';

const TOLERANCE = 1e-5;

let ortMissing: string | undefined;
before(async () => {
  const ort = await loadOrt();
  if ('error' in ort) ortMissing = ort.error;
});

/** Runs `m` on both; every output must have the same dims and agree within TOLERANCE (exactly for ints). */
async function agree(m: OpModel, t: { skip: (msg: string) => void }, tolerance = TOLERANCE, referenceBytes = m.bytes): Promise<void> {
  if (ortMissing) {
    t.skip(`onnxruntime-node not available: ${ortMissing}`);
    return;
  }
  const ref = loadReference(referenceBytes).run(m.feeds);
  const ort = await runOrt(m.bytes, m.feeds);
  for (const name of m.outputs) {
    assert.deepEqual(ref[name].dims, ort[name].dims, `${name}: dims`);
    assert.ok(ref[name].data.length > 0, `${name}: empty`);
    if (ref[name].kind === 'float') {
      const e = relativeError(ort[name].data, ref[name].data);
      assert.ok(e <= tolerance, `${name}: relative error ${e.toExponential(2)} > ${tolerance}`);
    } else {
      assert.deepEqual(Array.from(ort[name].data), Array.from(ref[name].data), `${name}: values`);
    }
  }
}

const i64 = (name: string, values: number[]) => ({ name, dims: [values.length], init: true, type: 'int64' as const, values });

describe('reference vs onnxruntime: convolutions', () => {
  const cases: [string, Parameters<typeof conv>[0]][] = [
    ['3x3 no padding', {}],
    ['explicit pads, stride 2', { pad: [1, 1, 1, 1], stride: [2, 2] }],
    ['asymmetric pads, no bias', { pad: [0, 2, 1, 0], bias: false }],
    ['even kernel SAME_LOWER stride 2', { k: [2, 2], stride: [2, 2], pad: 'SAME_LOWER' }],
    ['k4 SAME_UPPER stride 3', { k: [4, 4], stride: [3, 3], pad: 'SAME_UPPER', input: [1, 2, 8, 7] }],
    ['VALID stride 3', { k: [2, 3], stride: [3, 3], pad: 'VALID' }],
    ['depthwise, multiplier 2', { input: [2, 4, 6, 5], out: 8, group: 4, pad: [1, 0, 1, 2] }],
    ['1x1 output', { input: [2, 3, 3, 3], k: [3, 3] }],
    ['1x1 kernel stride 2', { k: [1, 1], stride: [2, 2] }],
    ['opset 11', { opset: 11, pad: 'SAME_UPPER', stride: [2, 2] }],
  ];
  for (const [name, spec] of cases) test(`Conv ${name}`, (t) => agree(conv(spec), t));
  test('Conv k[3,2] stride[2,1] SAME_UPPER group 2 dilation[1,2] (onnxruntime: the same pads written out)', (t) => {
    // onnxruntime refuses auto_pad with dilation; SAME_UPPER here is pads [1, 1, 1, 1] (H 7 → 4, W 6 → 6).
    const spec = { k: [3, 2], stride: [2, 1], group: 2, dilation: [1, 2] } as const;
    const same = conv({ ...spec, k: [3, 2], stride: [2, 1], dilation: [1, 2], pad: 'SAME_UPPER' });
    const explicit = conv({ ...spec, k: [3, 2], stride: [2, 1], dilation: [1, 2], pad: [1, 1, 1, 1] });
    return agree(explicit, t, TOLERANCE, same.bytes);
  });

  const transposed: [string, Parameters<typeof convTranspose>[0]][] = [
    ['stride 1', {}],
    ['stride 2, pads 1, output_padding 1', { stride: [2, 2], pad: [1, 1, 1, 1], outputPadding: [1, 1] }],
    ['group 2, dilation 2, stride [2,1]', { group: 2, dilation: [2, 2], stride: [2, 1], k: [2, 3] }],
    ['output_shape', { stride: [2, 2], outputShape: [8, 6] }],
    ['asymmetric pads, no bias', { stride: [3, 2], pad: [0, 1, 2, 0], bias: false }],
  ];
  for (const [name, spec] of transposed) test(`ConvTranspose ${name}`, (t) => agree(convTranspose(spec), t));

  test('BatchNormalization', (t) => agree(batchNorm(), t));
  test('BatchNormalization opset 11, epsilon 1e-3', (t) => agree(batchNorm({ opset: 11, epsilon: 1e-3 }), t));
  test('residual block with BatchNorm', (t) => agree(residualBlock(), t));
});

describe('reference vs onnxruntime: pooling', () => {
  const cases: [string, Parameters<typeof pool>[0]][] = [
    ['MaxPool 2x2', { op: 'MaxPool' }],
    ['MaxPool 3x3 stride 2 pads 1 with indices', { op: 'MaxPool', k: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1], indices: true }],
    ['MaxPool ceil_mode', { op: 'MaxPool', k: [3, 3], stride: [2, 2], ceil: true, input: [1, 2, 8, 7] }],
    ['MaxPool ceil_mode with pads', { op: 'MaxPool', k: [2, 2], stride: [2, 2], ceil: true, pad: [1, 1, 1, 1], input: [1, 2, 5, 6] }],
    ['MaxPool dilation 2', { op: 'MaxPool', k: [2, 2], stride: [1, 1], dilation: [2, 2] }],
    ['MaxPool SAME_UPPER', { op: 'MaxPool', k: [3, 3], stride: [2, 2], pad: 'SAME_UPPER' }],
    ['AveragePool 2x2', { op: 'AveragePool' }],
    ['AveragePool pads, excluding pad', { op: 'AveragePool', k: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1] }],
    ['AveragePool pads, count_include_pad', { op: 'AveragePool', k: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1], countIncludePad: true }],
    ['AveragePool ceil_mode', { op: 'AveragePool', k: [3, 3], stride: [2, 2], ceil: true, input: [1, 2, 8, 7] }],
    ['AveragePool SAME_UPPER', { op: 'AveragePool', k: [2, 2], stride: [2, 2], pad: 'SAME_UPPER', input: [1, 2, 5, 7] }],
  ];
  for (const [name, spec] of cases) test(name, (t) => agree(pool(spec), t));
  test('GlobalAveragePool', (t) => agree(unaryOp('GlobalAveragePool', [2, 3, 4, 5]), t));
  test('MaxPool indices → MaxUnpool', (t) =>
    agree(
      opModel({
        operands: [{ name: 'x', dims: [2, 3, 6, 5] }],
        nodes: [
          { op: 'MaxPool', inputs: ['x'], outputs: ['p', 'i'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
          { op: 'Shape', inputs: ['x'], outputs: ['s'] },
          { op: 'MaxUnpool', inputs: ['p', 'i', 's'], outputs: ['y'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
        ],
        outputs: ['y'],
      }),
      t,
    ));
});

describe('reference vs onnxruntime: pointwise and broadcasting', () => {
  const dims = [2, 3, 4, 5];
  const unaries: [string, Record<string, number>, { opset?: number; shift?: number; scale?: number }?][] = [
    ['Relu', {}],
    ['LeakyRelu', { alpha: 0.1 }],
    ['Sigmoid', {}],
    ['Tanh', {}],
    ['HardSigmoid', { alpha: 0.3, beta: 0.4 }],
    ['HardSwish', {}, { opset: 14, scale: 4 }],
    ['Neg', {}],
    ['Abs', {}],
    ['Sign', {}],
    ['Exp', {}],
    ['Log', {}, { shift: 5 }],
    ['Sqrt', {}, { shift: 5 }],
    ['Identity', {}],
    ['Dropout', {}],
    ['Flatten', { axis: 2 }],
    ['Softplus', {}],
  ];
  for (const [op, attrs, o] of unaries) test(op, (t) => agree(unaryOp(op, dims, attrs, o), t));
  test('Clip opset 6 (attributes)', (t) => agree(unaryOp('Clip', dims, { min: -0.5, max: 1 }, { opset: 6 }), t));
  test('Clip opset 13 (inputs: ReLU6)', (t) =>
    agree(
      opModel({
        operands: [{ name: 'x', dims, scale: 5 }, { name: 'lo', dims: [], init: true, values: [0] }, { name: 'hi', dims: [], init: true, values: [6] }],
        nodes: [{ op: 'Clip', inputs: ['x', 'lo', 'hi'], outputs: ['y'] }],
        outputs: ['y'],
        opset: 13,
      }),
      t,
    ));
  test('Clip opset 13, max only', (t) =>
    agree(
      opModel({
        operands: [{ name: 'x', dims }, { name: 'hi', dims: [], init: true, values: [0.5] }],
        nodes: [{ op: 'Clip', inputs: ['x', '', 'hi'], outputs: ['y'] }],
        outputs: ['y'],
      }),
      t,
    ));
  test('PRelu (per-channel slope)', (t) =>
    agree(
      opModel({ operands: [{ name: 'x', dims }, { name: 's', dims: [3, 1, 1], init: true, scale: 0.3 }], nodes: [{ op: 'PRelu', inputs: ['x', 's'], outputs: ['y'] }], outputs: ['y'] }),
      t,
    ));
  const broadcasts: [number[], number[]][] = [
    [[2, 3, 4, 5], [3, 1, 1]],
    [[2, 3, 1, 5], [1, 4, 1]],
    [[1, 3, 4, 1], [2, 1, 1, 5]],
    [[2, 3, 4, 5], []],
    [[5], [2, 3, 4, 5]],
  ];
  for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
    for (const [a, b] of broadcasts) test(`${op} [${a}] ∘ [${b}]`, (t) => agree(binaryOp(op, a, b, { bInit: true, bShift: op === 'Div' ? 3 : 0 }), t));
  }
  test('Pow', (t) =>
    agree(
      opModel({
        operands: [{ name: 'a', dims: [2, 3], shift: 3, scale: 0.5 }, { name: 'b', dims: [3], init: true }],
        nodes: [{ op: 'Pow', inputs: ['a', 'b'], outputs: ['y'] }],
        outputs: ['y'],
      }),
      t,
    ));
  test('Sum of three, broadcasting', (t) =>
    agree(
      opModel({
        operands: [{ name: 'a', dims: [2, 3, 4] }, { name: 'b', dims: [3, 1] }, { name: 'c', dims: [4] }],
        nodes: [{ op: 'Sum', inputs: ['a', 'b', 'c'], outputs: ['y'] }],
        outputs: ['y'],
      }),
      t,
    ));
  test('Where(Greater), Equal, Less', (t) =>
    agree(
      opModel({
        operands: [{ name: 'a', dims: [2, 3, 4] }, { name: 'b', dims: [3, 4] }],
        nodes: [
          { op: 'Greater', inputs: ['a', 'b'], outputs: ['g'] },
          { op: 'Where', inputs: ['g', 'a', 'b'], outputs: ['y'] },
          { op: 'Equal', inputs: ['a', 'a'], outputs: ['eq'] },
          { op: 'Less', inputs: ['a', 'b'], outputs: ['lt'] },
        ],
        outputs: ['y', 'eq', 'lt', 'g'],
        outputTypes: { eq: 'bool', lt: 'bool', g: 'bool' },
      }),
      t,
    ));
});

describe('reference vs onnxruntime: matrices, reductions, softmax', () => {
  const gemms: [string, Parameters<typeof gemm>[0]][] = [
    ['plain', {}],
    ['transB, bias [N]', { transB: true, cDims: [4] }],
    ['transA, alpha, beta, C [M, N]', { transA: true, alpha: 0.5, beta: 2, cDims: [3, 4] }],
    ['C [1, N]', { cDims: [1, 4] }],
    ['C scalar', { cDims: [], transA: true, transB: true }],
  ];
  for (const [name, spec] of gemms) test(`Gemm ${name}`, (t) => agree(gemm(spec), t));
  const matmuls: [number[], number[]][] = [
    [[3, 4], [4, 5]],
    [[2, 3, 4], [4, 5]],
    [[3, 4], [2, 4, 5]],
    [[2, 1, 3, 4], [3, 4, 2]],
    [[4], [2, 4, 3]],
    [[2, 3, 4], [4]],
  ];
  for (const [a, b] of matmuls) test(`MatMul [${a}] x [${b}]`, (t) => agree(binaryOp('MatMul', a, b, { bInit: true }), t));

  for (const op of ['Softmax', 'LogSoftmax'] as const) {
    for (const [opset, axis] of [
      [11, undefined],
      [11, 1],
      [11, -1],
      [13, undefined],
      [13, 1],
      [13, 0],
    ] as const) {
      test(`${op} opset ${opset} axis ${axis ?? 'default'}`, (t) => agree(softmax(op, [2, 3, 4], axis, opset), t));
    }
  }

  const reduction = (op: string, opset: number, axes: number[] | undefined, keepdims: number, asInput: boolean): OpModel =>
    opModel({
      opset,
      operands: [{ name: 'x', dims: [2, 3, 4, 5] }, ...(asInput && axes ? [i64('axes', axes)] : [])],
      nodes: [{ op, inputs: asInput && axes ? ['x', 'axes'] : ['x'], outputs: ['y'], attrs: { keepdims, ...(!asInput && axes ? { axes } : {}) } }],
      outputs: ['y'],
    });
  test('ReduceMean axes attribute (opset 13)', (t) => agree(reduction('ReduceMean', 13, [2, 3], 1, false), t));
  test('ReduceMean axes input (opset 18), keepdims 0', (t) => agree(reduction('ReduceMean', 18, [-1, 1], 0, true), t));
  test('ReduceMean all axes', (t) => agree(reduction('ReduceMean', 13, undefined, 0, false), t));
  test('ReduceSum axes input (opset 13)', (t) => agree(reduction('ReduceSum', 13, [0, 2], 1, true), t));
  test('ReduceSum axes attribute (opset 11)', (t) => agree(reduction('ReduceSum', 11, [1], 0, false), t));
  test('ReduceMax axes attribute (opset 13)', (t) => agree(reduction('ReduceMax', 13, [3], 1, false), t));
  test('ArgMax', (t) =>
    agree(opModel({ operands: [{ name: 'x', dims: [3, 7] }], nodes: [{ op: 'ArgMax', inputs: ['x'], outputs: ['y'], attrs: { axis: 1, keepdims: 0 } }], outputs: ['y'], outputTypes: { y: 'int64' } }), t));
});

describe('reference vs onnxruntime: shapes', () => {
  test('exporter flatten: Shape → Gather → Unsqueeze → Concat → Reshape', (t) =>
    agree(
      opModel({
        opset: 13,
        operands: [{ name: 'x', dims: [2, 3, 4, 5] }, i64('zero', [0]), { name: 'idx', dims: [], init: true, type: 'int64', values: [0] }, i64('minus1', [-1])],
        nodes: [
          { op: 'Shape', inputs: ['x'], outputs: ['s'] },
          { op: 'Gather', inputs: ['s', 'idx'], outputs: ['n'], attrs: { axis: 0 } },
          { op: 'Unsqueeze', inputs: ['n', 'zero'], outputs: ['n1'] },
          { op: 'Concat', inputs: ['n1', 'minus1'], outputs: ['shape'], attrs: { axis: 0 } },
          { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] },
        ],
        outputs: ['y'],
      }),
      t,
    ));
  test('Reshape with 0 and -1', (t) =>
    agree(opModel({ operands: [{ name: 'x', dims: [2, 3, 4, 5] }, i64('s', [0, -1, 5])], nodes: [{ op: 'Reshape', inputs: ['x', 's'], outputs: ['y'] }], outputs: ['y'] }), t));
  test('Transpose', (t) => agree(unaryOp('Transpose', [2, 3, 4, 5], { perm: [0, 2, 3, 1] }), t));
  test('Transpose default (reverse)', (t) => agree(unaryOp('Transpose', [2, 3, 4]), t));
  test('Squeeze/Unsqueeze axes attribute (opset 11)', (t) =>
    agree(
      opModel({
        opset: 11,
        operands: [{ name: 'x', dims: [2, 1, 4, 1] }],
        nodes: [
          { op: 'Squeeze', inputs: ['x'], outputs: ['s'], attrs: { axes: [1, -1] } },
          { op: 'Unsqueeze', inputs: ['s'], outputs: ['y'], attrs: { axes: [0, 3] } },
        ],
        outputs: ['s', 'y'],
      }),
      t,
    ));
  test('Squeeze/Unsqueeze axes input (opset 13)', (t) =>
    agree(
      opModel({
        opset: 13,
        operands: [{ name: 'x', dims: [2, 1, 4, 1] }, i64('sq', [1, 3]), i64('un', [-1, 1])],
        nodes: [
          { op: 'Squeeze', inputs: ['x', 'sq'], outputs: ['s'] },
          { op: 'Unsqueeze', inputs: ['s', 'un'], outputs: ['y'] },
          { op: 'Squeeze', inputs: ['x'], outputs: ['all'] },
        ],
        outputs: ['s', 'y', 'all'],
      }),
      t,
    ));
  test('Concat on channels', (t) =>
    agree(
      opModel({
        operands: [{ name: 'a', dims: [2, 3, 4] }, { name: 'b', dims: [2, 1, 4] }, { name: 'c', dims: [2, 2, 4], init: true }],
        nodes: [{ op: 'Concat', inputs: ['a', 'b', 'c'], outputs: ['y'], attrs: { axis: -2 } }],
        outputs: ['y'],
      }),
      t,
    ));
  test('Gather axis 1 with negative indices', (t) =>
    agree(
      opModel({
        operands: [{ name: 'x', dims: [3, 5, 2] }, { name: 'i', dims: [2, 2], init: true, type: 'int64', values: [0, -1, 2, 2] }],
        nodes: [{ op: 'Gather', inputs: ['x', 'i'], outputs: ['y'], attrs: { axis: 1 } }],
        outputs: ['y'],
      }),
      t,
    ));
  for (const mode of ['constant', 'reflect', 'edge']) {
    test(`Pad ${mode} (opset 13, pads input)`, (t) =>
      agree(
        opModel({
          opset: 13,
          operands: [{ name: 'x', dims: [2, 3, 4, 5] }, i64('pads', [0, 0, 1, 2, 0, 1, 2, 1]), ...(mode === 'constant' ? [{ name: 'v', dims: [], init: true, values: [0.5] }] : [])],
          nodes: [{ op: 'Pad', inputs: mode === 'constant' ? ['x', 'pads', 'v'] : ['x', 'pads'], outputs: ['y'], attrs: { mode } }],
          outputs: ['y'],
        }),
        t,
      ));
  }
  test('Pad opset 18 with axes', (t) =>
    agree(
      opModel({
        opset: 18,
        operands: [{ name: 'x', dims: [2, 3, 4, 5] }, i64('pads', [1, 2, 0, 1]), { name: 'v', dims: [], init: true, values: [0] }, i64('axes', [2, -1])],
        nodes: [{ op: 'Pad', inputs: ['x', 'pads', 'v', 'axes'], outputs: ['y'] }],
        outputs: ['y'],
      }),
      t,
    ));
  test('Pad opset 11', (t) =>
    agree(
      opModel({ opset: 11, operands: [{ name: 'x', dims: [1, 2, 3, 3] }, i64('pads', [0, 0, 1, 1, 0, 0, 1, 1])], nodes: [{ op: 'Pad', inputs: ['x', 'pads'], outputs: ['y'] }], outputs: ['y'] }),
      t,
    ));
  test('Slice with steps and negative ends', (t) =>
    agree(
      opModel({
        operands: [{ name: 'x', dims: [3, 6, 5] }, i64('st', [1, -1]), i64('en', [-1, 0]), i64('ax', [1, 2]), i64('sp', [2, -2])],
        nodes: [{ op: 'Slice', inputs: ['x', 'st', 'en', 'ax', 'sp'], outputs: ['y'] }],
        outputs: ['y'],
      }),
      t,
    ));
  test('Constant, Cast, Expand, ConstantOfShape', (t) =>
    agree(
      opModel({
        operands: [{ name: 'x', dims: [3, 1], scale: 3 }, i64('shape', [2, 3, 4])],
        nodes: [
          { op: 'Constant', inputs: [], outputs: ['c'], attrs: { value: { tensor: { data: [1.5, -2], dims: [2, 1, 1] } } } },
          { op: 'Expand', inputs: ['x', 'shape'], outputs: ['e'] },
          { op: 'Mul', inputs: ['e', 'c'], outputs: ['y'] },
          { op: 'Cast', inputs: ['x'], outputs: ['xi'], attrs: { to: 7 } },
          { op: 'ConstantOfShape', inputs: ['shape'], outputs: ['z'], attrs: { value: { tensor: { data: [3], dims: [1] } } } },
        ],
        outputs: ['y', 'xi', 'z'],
        outputTypes: { xi: 'int64' },
      }),
      t,
    ));
  // The backward graphs use these two: Concat's gradient is a Split, overlapping MaxPool's a ScatterElements.
  test('Split with sizes (opset 13) along a middle axis', (t) =>
    agree(
      opModel({
        opset: 13,
        operands: [{ name: 'x', dims: [2, 6, 3] }, i64('sizes', [1, 3, 2])],
        nodes: [{ op: 'Split', inputs: ['x', 'sizes'], outputs: ['p', 'q', 'r'], attrs: { axis: 1 } }],
        outputs: ['p', 'q', 'r'],
      }),
      t,
    ));
  test('Split into equal parts (opset 11, no sizes)', (t) =>
    agree(opModel({ opset: 11, operands: [{ name: 'x', dims: [2, 3, 4] }], nodes: [{ op: 'Split', inputs: ['x'], outputs: ['p', 'q'], attrs: { axis: -1 } }], outputs: ['p', 'q'] }), t));
  test('ScatterElements with repeated indices, reduction add (opset 16)', (t) =>
    agree(
      opModel({
        opset: 16,
        operands: [
          { name: 'data', dims: [3, 4] },
          { name: 'i', dims: [2, 3], init: true, type: 'int64', values: [0, 2, 0, 2, 2, -1] },
          { name: 'u', dims: [2, 3] },
        ],
        nodes: [{ op: 'ScatterElements', inputs: ['data', 'i', 'u'], outputs: ['y'], attrs: { axis: 1, reduction: 'add' } }],
        outputs: ['y'],
      }),
      t,
    ));
  test('ScatterElements without reduction along axis 0', (t) =>
    agree(
      opModel({
        opset: 13,
        operands: [
          { name: 'data', dims: [3, 2] },
          { name: 'i', dims: [2, 2], init: true, type: 'int64', values: [2, 0, 1, 1] },
          { name: 'u', dims: [2, 2] },
        ],
        nodes: [{ op: 'ScatterElements', inputs: ['data', 'i', 'u'], outputs: ['y'], attrs: { axis: 0 } }],
        outputs: ['y'],
      }),
      t,
    ));
});

describe('reference: what it refuses and what differs by opset', () => {
  test('an unknown op is refused by name', () => {
    const bytes = buildModel({ nodes: [{ op: 'GridSample', inputs: ['x', 'g'], outputs: ['y'] }], inputs: [{ name: 'x' }, { name: 'g' }], outputs: [{ name: 'y' }] });
    assert.throws(() => loadReference(bytes), /op GridSample \(node 'GridSample_0'\) is not supported/);
  });
  test('an op from another domain is refused by name', () => {
    const bytes = buildModel({ nodes: [{ op: 'FusedConv', domain: 'com.microsoft', inputs: ['x'], outputs: ['y'] }], inputs: [{ name: 'x' }], outputs: [{ name: 'y' }] });
    assert.throws(() => loadReference(bytes), /com\.microsoft:FusedConv/);
  });
  test('training-mode BatchNormalization is refused', () => {
    const m = batchNorm();
    const bytes = buildModel({
      nodes: [{ op: 'BatchNormalization', inputs: ['x', 's', 'b', 'm', 'v'], outputs: ['y'], attrs: { training_mode: 1 } }],
      inputs: [{ name: 'x' }],
      outputs: [{ name: 'y' }],
      initializers: ['s', 'b', 'm', 'v'].map((name) => ({ name, data: [1, 1, 1], dims: [3] })),
      opset: 15,
    });
    assert.throws(() => loadReference(bytes).run(m.feeds), /training mode/);
  });
  test('Softmax over the trailing block before opset 13, over one axis from 13', () => {
    const x = { data: [0, 1, 2, 3], dims: [1, 2, 2] };
    const old = loadReference(softmax('Softmax', [1, 2, 2], 1, 11).bytes).run({ x }).y.data;
    const now = loadReference(softmax('Softmax', [1, 2, 2], 1, 13).bytes).run({ x }).y.data;
    const e = [0, 1, 2, 3].map(Math.exp);
    const total = e.reduce((a, b) => a + b);
    assert.ok(relativeError(old, e.map((v) => v / total)) < 1e-15);
    assert.ok(relativeError(now, [e[0] / (e[0] + e[2]), e[1] / (e[1] + e[3]), e[2] / (e[0] + e[2]), e[3] / (e[1] + e[3])]) < 1e-15);
  });
  test('overrides replace an initializer, and a wrong length is refused', () => {
    const m = conv({ input: [1, 1, 3, 3], out: 1, bias: false });
    const ref = loadReference(m.bytes);
    const y = ref.run(m.feeds, { w: new Float64Array(9).fill(1) }).y.data;
    assert.equal(y.length, 1);
    assert.ok(Math.abs(y[0] - m.feeds.x.data.reduce((a, b) => a + b)) < 1e-12);
    assert.throws(() => ref.run(m.feeds, { w: new Float64Array(8) }), /has 8 values/);
    assert.throws(() => ref.run(m.feeds, { nope: new Float64Array(1) }), /not an initializer/);
  });
  test('intermediates are returned on request', () => {
    const m = residualBlock();
    const out = loadReference(m.bytes).run(m.feeds, {}, { keep: ['gap', 'r1'] });
    assert.deepEqual(out.gap.dims, [2, 3, 1, 1]);
    assert.deepEqual(out.r1.dims, [2, 3, 5, 5]);
    assert.ok(out.r1.data.every((v) => v >= 0));
    assert.throws(() => loadReference(m.bytes).run(m.feeds, {}, { keep: ['nothing'] }), /'nothing' was not computed/);
  });
});
