/** Writes ONNX graphs: nodes, initializers, inputs and outputs, encoded as a ModelProto. */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;

/** The opset of every generated graph (ORT's CPU kernels cover it; axes are inputs for ReduceSum, attributes for ReduceMean). */
export const GENERATED_OPSET = 17;

/** An attribute to write: whole numbers become INT(S) unless wrapped in {@link float}. */
export type WriteAttribute = number | readonly number[] | string | { readonly float: number } | { readonly floats: readonly number[] };

export const float = (value: number): { float: number } => ({ float: value });

/** A graph value's declared element type and dimensions (a string is a symbolic dimension). */
export interface ValueDeclaration {
  readonly name: string;
  readonly dims: readonly (number | string)[];
  readonly type?: 'float' | 'int64';
}

export class GraphWriter {
  readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private id = 0;
  private readonly scalars = new Map<number, string>();
  private readonly intConsts = new Map<string, string>();

  /** A fresh value name. */
  name(prefix: string): string {
    return `${prefix}__${this.id++}`;
  }

  /** A float initializer with these values (copied). */
  floats(values: Float32Array | readonly number[], dims: readonly number[], name = this.name('w')): string {
    const copy = Float32Array.from(values);
    this.initializers.push(onnx.TensorProto.create({ name, dims: [...dims], dataType: FLOAT, rawData: new Uint8Array(copy.buffer) }));
    return name;
  }

  /** A 1-D int64 initializer (shared between identical uses). */
  ints(values: readonly number[]): string {
    const key = values.join(',');
    const known = this.intConsts.get(key);
    if (known !== undefined) return known;
    const name = this.name('i');
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push(onnx.TensorProto.create({ name, dims: [values.length], dataType: INT64, rawData: new Uint8Array(data.buffer) }));
    this.intConsts.set(key, name);
    return name;
  }

  /** A float scalar initializer (shared between identical uses). */
  scalar(value: number): string {
    const known = this.scalars.get(value);
    if (known !== undefined) return known;
    const name = this.floats([value], [], this.name('k'));
    this.scalars.set(value, name);
    return name;
  }

  node(opType: string, inputs: readonly string[], attributes: Record<string, WriteAttribute> = {}, outputs: number | readonly string[] = 1): string[] {
    const out = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.name(opType.toLowerCase())) : [...outputs];
    const T = onnx.AttributeProto.AttributeType;
    const attribute = Object.entries(attributes).map(([name, v]) => {
      if (typeof v === 'string') return onnx.AttributeProto.create({ name, s: new TextEncoder().encode(v), type: T.STRING });
      if (typeof v === 'number') return onnx.AttributeProto.create({ name, i: v, type: T.INT });
      if (Array.isArray(v)) return onnx.AttributeProto.create({ name, ints: [...(v as number[])], type: T.INTS });
      if ('float' in (v as object)) return onnx.AttributeProto.create({ name, f: (v as { float: number }).float, type: T.FLOAT });
      return onnx.AttributeProto.create({ name, floats: [...(v as { floats: number[] }).floats], type: T.FLOATS });
    });
    this.nodes.push(onnx.NodeProto.create({ opType, input: [...inputs], output: out, attribute, name: this.name(`n_${opType}`) }));
    return out;
  }

  op(opType: string, inputs: readonly string[], attributes: Record<string, WriteAttribute> = {}): string {
    return this.node(opType, inputs, attributes)[0];
  }

  /** Copies `from` into a value named `to` (for graph outputs with fixed names). */
  alias(from: string, to: string): void {
    this.node('Identity', [from], {}, [to]);
  }

  /** The ModelProto bytes. */
  encode(name: string, inputs: readonly ValueDeclaration[], outputs: readonly ValueDeclaration[]): Uint8Array {
    const value = (v: ValueDeclaration) =>
      onnx.ValueInfoProto.create({
        name: v.name,
        type: onnx.TypeProto.create({
          tensorType: onnx.TypeProto.Tensor.create({
            elemType: v.type === 'int64' ? INT64 : FLOAT,
            shape: onnx.TensorShapeProto.create({
              dim: v.dims.map((d) => onnx.TensorShapeProto.Dimension.create(typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
            }),
          }),
        }),
      });
    const graph = onnx.GraphProto.create({
      name,
      node: this.nodes,
      initializer: this.initializers,
      input: inputs.map(value),
      output: outputs.map(value),
    });
    const proto = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'poisonguard',
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: GENERATED_OPSET })],
      graph,
    });
    return onnx.ModelProto.encode(proto).finish();
  }
}
