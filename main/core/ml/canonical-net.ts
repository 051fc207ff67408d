/**
 * The source-independent description of a MobileNet that canonical.ts builds its layers model
 * from. A source reader (canonical-graph.ts, canonical-keras.ts) lists the network as raw ops in
 * dataflow order; `foldNet` folds batch norm, biases, activations and SAME-equivalent zero
 * padding into the convolutions; `nameBlocks` recognises the v1/v2 block structure and names
 * every op as Keras' MobileNet applications do, so one backbone gets the same layer names
 * whatever format it was read from.
 */
import { CoreError } from '../errors.ts';

export type Activation = 'linear' | 'relu' | 'relu6';
export type Padding2D = [[number, number], [number, number]];

/** A weight as read from a source file, row-major (TF's layout: [kh, kw, in, out|multiplier]). */
export interface WeightArray {
  values: Float32Array;
  shape: number[];
}

interface RawOpBase {
  /** Unique id within the net; 'input' names the rescaled pixels. */
  id: string;
  /** The node or layer this op was read from, for error messages. */
  source: string;
}

export type RawOp =
  | (RawOpBase & { kind: 'conv'; input: string; depthwise: boolean; kernel: WeightArray; bias: Float32Array | null; strides: [number, number]; padding: 'same' | 'valid'; activation: Activation })
  | (RawOpBase & { kind: 'batchNorm'; input: string; gamma: Float32Array | null; beta: Float32Array | null; mean: Float32Array; variance: Float32Array; epsilon: number })
  | (RawOpBase & { kind: 'bias'; input: string; bias: Float32Array })
  | (RawOpBase & { kind: 'activation'; input: string; activation: Activation })
  | (RawOpBase & { kind: 'pad'; input: string; padding: Padding2D })
  | (RawOpBase & { kind: 'add'; inputs: [string, string] });

/** A network as a source file describes it. Pixels p in 0..255 enter the first op as p·inputScale + inputOffset. */
export interface RawNet {
  /** What was read (a folder or file), for error messages. */
  origin: string;
  inputScale: number;
  inputOffset: number;
  /** In dataflow order: every op's inputs come before it. */
  ops: RawOp[];
  /** Id of the op whose output is the last feature map. */
  output: string;
}

export type NetOp =
  | { kind: 'conv'; id: string; source: string; input: string; depthwise: boolean; kernel: WeightArray; bias: Float32Array; strides: [number, number]; padding: 'same' | 'valid'; activation: Activation; pad: Padding2D | null; name: string }
  | { kind: 'add'; id: string; source: string; inputs: [string, string]; name: string };

/** A network with batch norm and biases folded into its convolutions, ready to build. */
export interface FoldedNet {
  origin: string;
  inputScale: number;
  inputOffset: number;
  ops: NetOp[];
  output: string;
  /** Output shape [h, w, c] of every op, for a 224×224 input. */
  shapes: Map<string, [number, number, number]>;
}

export const INPUT_SIZE = 224;

const unsupported = (origin: string, what: string): CoreError =>
  new CoreError('unsupported', `Seedbed cannot read the MobileNet in ${origin}: ${what}. It reads MobileNet v1 and v2 as TensorFlow.js publishes them (graph or layers models).`);

/** The padding TF's SAME applies for this input size, kernel and stride: [before, after]. */
function samePadding(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Folds batch norm, bias adds, activations and SAME-equivalent padding into the convolutions. */
export function foldNet(raw: RawNet): FoldedNet {
  const fail = (op: RawOp, what: string): CoreError => unsupported(raw.origin, `${what} (at "${op.source}")`);
  const consumers = new Map<string, number>();
  for (const op of raw.ops) {
    for (const input of op.kind === 'add' ? op.inputs : [op.input]) consumers.set(input, (consumers.get(input) ?? 0) + 1);
  }
  const ops: NetOp[] = [];
  const byId = new Map<string, NetOp>();
  // Which folded op (or 'input') a raw op's output now is, and which raw op last wrote it.
  const alias = new Map<string, string>([['input', 'input']]);
  const tail = new Map<string, string>();
  const pads = new Map<string, { input: string; padding: Padding2D; op: RawOp }>();
  const shapes = new Map<string, [number, number, number]>([['input', [INPUT_SIZE, INPUT_SIZE, 3]]]);

  const resolve = (op: RawOp, id: string): string => {
    const target = alias.get(id);
    if (target === undefined) throw fail(op, pads.has(id) ? 'zero padding that does not feed a convolution' : `its input "${id}" is not part of the network read so far`);
    return target;
  };
  // The folded op `op` reads from, when `op` may change it in place (nothing else reads it yet).
  const foldTarget = (op: RawOp & { input: string }, what: string): NetOp => {
    const target = byId.get(resolve(op, op.input));
    if (!target) throw fail(op, `${what} applied directly to the input`);
    if ((consumers.get(tail.get(target.id)!) ?? 0) !== 1) throw fail(op, `${what} on a tensor that is also used elsewhere`);
    return target;
  };

  for (const op of raw.ops) {
    switch (op.kind) {
      case 'pad': {
        if (op.padding.flat().some((p) => p < 0 || !Number.isInteger(p))) throw fail(op, 'negative or fractional padding');
        pads.set(op.id, { input: resolve(op, op.input), padding: op.padding, op });
        break;
      }
      case 'conv': {
        let input: string;
        let padding = op.padding;
        let pad: Padding2D | null = null;
        const padded = pads.get(op.input);
        if (padded) {
          if ((consumers.get(op.input) ?? 0) !== 1) throw fail(padded.op, 'zero padding used by more than one layer');
          input = padded.input;
          pad = padded.padding;
        } else {
          input = resolve(op, op.input);
        }
        const [h, w, c] = shapes.get(input)!;
        const [kh, kw, kin, kout] = op.kernel.shape as [number, number, number, number];
        if (op.kernel.shape.length !== 4) throw fail(op, `a kernel of shape [${op.kernel.shape.join(', ')}]`);
        if (kin !== c) throw fail(op, `a kernel for ${kin} input channels on a tensor with ${c}`);
        if (pad && padding === 'valid') {
          // Keras pads explicitly before a strided VALID convolution; where that equals SAME, one layer does both.
          const same = [samePadding(h, kh, op.strides[0]), samePadding(w, kw, op.strides[1])];
          if (same[0]![0] === pad[0][0] && same[0]![1] === pad[0][1] && same[1]![0] === pad[1][0] && same[1]![1] === pad[1][1]) {
            padding = 'same';
            pad = null;
          }
        } else if (pad && padding === 'same') {
          throw fail(op, 'zero padding before a SAME convolution');
        }
        const ph = h + (pad ? pad[0][0] + pad[0][1] : 0);
        const pw = w + (pad ? pad[1][0] + pad[1][1] : 0);
        const outH = padding === 'same' ? Math.ceil(ph / op.strides[0]) : Math.floor((ph - kh) / op.strides[0]) + 1;
        const outW = padding === 'same' ? Math.ceil(pw / op.strides[1]) : Math.floor((pw - kw) / op.strides[1]) + 1;
        const channels = op.depthwise ? kin * kout : kout;
        if (outH < 1 || outW < 1) throw fail(op, 'a convolution larger than its input');
        if (op.bias && op.bias.length !== channels) throw fail(op, `${op.bias.length} biases for ${channels} channels`);
        const folded: NetOp = {
          kind: 'conv', id: op.id, source: op.source, input, depthwise: op.depthwise,
          kernel: { values: Float32Array.from(op.kernel.values), shape: [...op.kernel.shape] },
          bias: op.bias ? Float32Array.from(op.bias) : new Float32Array(channels),
          strides: op.strides, padding, activation: op.activation, pad, name: op.id,
        };
        ops.push(folded);
        byId.set(op.id, folded);
        alias.set(op.id, op.id);
        tail.set(op.id, op.id);
        shapes.set(op.id, [outH, outW, channels]);
        break;
      }
      case 'batchNorm':
      case 'bias': {
        const target = foldTarget(op, op.kind === 'bias' ? 'a bias' : 'batch normalisation');
        if (target.kind !== 'conv') throw fail(op, `${op.kind === 'bias' ? 'a bias' : 'batch normalisation'} after an addition`);
        if (target.activation !== 'linear') throw fail(op, `${op.kind === 'bias' ? 'a bias' : 'batch normalisation'} after an activation`);
        const channels = target.bias.length;
        if (op.kind === 'bias') {
          if (op.bias.length !== channels) throw fail(op, `${op.bias.length} biases for ${channels} channels`);
          for (let i = 0; i < channels; i++) target.bias[i] = target.bias[i]! + op.bias[i]!;
        } else {
          for (const v of [op.gamma, op.beta, op.mean, op.variance]) if (v && v.length !== channels) throw fail(op, `${v.length} batch-norm values for ${channels} channels`);
          // In float64, so folding adds no error beyond float32 rounding of the result.
          const scale = Array.from({ length: channels }, (_, i) => (op.gamma ? op.gamma[i]! : 1) / Math.sqrt(op.variance[i]! + op.epsilon));
          const k = target.kernel.values;
          for (let i = 0; i < k.length; i++) k[i] = k[i]! * scale[i % channels]!;
          for (let i = 0; i < channels; i++) target.bias[i] = (target.bias[i]! - op.mean[i]!) * scale[i]! + (op.beta ? op.beta[i]! : 0);
        }
        alias.set(op.id, target.id);
        tail.set(target.id, op.id);
        break;
      }
      case 'activation': {
        if (op.activation === 'linear') {
          // An identity: later folds see through it (it counts as the tensor's one consumer).
          const target = resolve(op, op.input);
          alias.set(op.id, target);
          if (tail.get(target) === op.input) tail.set(target, op.id);
          break;
        }
        const target = foldTarget(op, 'an activation');
        if (target.kind !== 'conv') throw fail(op, 'an activation after a residual addition');
        if (target.activation !== 'linear') throw fail(op, `${op.activation} after ${target.activation}`);
        target.activation = op.activation;
        alias.set(op.id, target.id);
        tail.set(target.id, op.id);
        break;
      }
      case 'add': {
        const inputs = op.inputs.map((i) => resolve(op, i)) as [string, string];
        const [a, b] = inputs.map((i) => shapes.get(i)!);
        if (a!.join() !== b!.join()) throw fail(op, `an addition of shapes [${a!.join(', ')}] and [${b!.join(', ')}]`);
        const folded: NetOp = { kind: 'add', id: op.id, source: op.source, inputs, name: op.id };
        ops.push(folded);
        byId.set(op.id, folded);
        alias.set(op.id, op.id);
        tail.set(op.id, op.id);
        shapes.set(op.id, a!);
        break;
      }
    }
  }
  const output = alias.get(raw.output);
  if (output === undefined || output === 'input') throw unsupported(raw.origin, `its feature map "${raw.output}" is not produced by a convolution`);
  // Only what the feature map depends on.
  const needed = new Set<string>([output]);
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i]!;
    if (needed.has(op.id)) for (const input of op.kind === 'add' ? op.inputs : [op.input]) needed.add(input);
  }
  const kept = ops.filter((op) => needed.has(op.id));
  if (kept[kept.length - 1]!.id !== output) throw unsupported(raw.origin, 'its feature map is not the last layer of the network');
  return { origin: raw.origin, inputScale: raw.inputScale, inputOffset: raw.inputOffset, ops: kept, output, shapes };
}

export interface NamedNet extends FoldedNet {
  version: 1 | 2;
  /** Names of the ops ending each block, in order (see canonical.ts). */
  blockEnds: string[];
  /** Name of the stem convolution (the cut for fine-tuning every block). */
  stem: string;
}

/**
 * Recognises MobileNet's structure (stem conv; blocks of [1×1 expand] → depthwise → 1×1
 * pointwise/project [→ residual add]; v2's final 1×1 conv) and names every op as Keras'
 * applications do: v1 conv1, conv_dw_N, conv_pw_N; v2 Conv1, expanded_conv_*, block_N_*, Conv_1.
 */
export function nameBlocks(net: FoldedNet): NamedNet {
  const fail = (what: string): CoreError => unsupported(net.origin, what);
  const ops = net.ops;
  const isPointwise = (op: NetOp | undefined): op is NetOp & { kind: 'conv' } =>
    op?.kind === 'conv' && !op.depthwise && op.kernel.shape[0] === 1 && op.kernel.shape[1] === 1 && op.strides[0] === 1 && op.strides[1] === 1;
  const stem = ops[0];
  if (stem?.kind !== 'conv' || stem.depthwise || stem.input !== 'input') throw fail('it does not start with a full convolution');
  type Conv = NetOp & { kind: 'conv' };
  interface Block { expand: Conv | null; depthwise: Conv; project: Conv; add: NetOp | null }
  const blocks: Block[] = [];
  let final: Conv | null = null;
  let previous = stem.id;
  let i = 1;
  while (i < ops.length) {
    const op = ops[i]!;
    let expand: Conv | null = null;
    if (isPointwise(op) && ops[i + 1]?.kind === 'conv' && (ops[i + 1] as { depthwise: boolean }).depthwise) {
      expand = op;
      i++;
    } else if (isPointwise(op) && i === ops.length - 1 && op.input === previous) {
      final = op;
      break;
    }
    const depthwise = ops[i];
    if (depthwise?.kind !== 'conv' || !depthwise.depthwise) throw fail(`"${ops[i]?.source ?? op.source}" is where a depthwise convolution was expected`);
    if (depthwise.input !== (expand ? expand.id : previous) || (expand && expand.input !== previous)) throw fail(`"${depthwise.source}" does not continue from the block before it`);
    const project = ops[i + 1];
    if (!isPointwise(project) || project.input !== depthwise.id) throw fail(`"${depthwise.source}" is not followed by a 1×1 convolution`);
    i += 2;
    let add: NetOp | null = null;
    const next = ops[i];
    if (next?.kind === 'add' && next.inputs.includes(project.id) && next.inputs.includes(previous)) {
      add = next;
      i++;
    }
    blocks.push({ expand, depthwise, project, add });
    previous = (add ?? project).id;
  }
  if (blocks.length === 0) throw fail('it has no depthwise-separable blocks');
  const v2 = final !== null || blocks.some((b) => b.expand || b.add || b.project.activation === 'linear');
  if (v2 && blocks.some((b) => b.project.activation !== 'linear')) throw fail('its blocks mix MobileNet v1 and v2 structure');
  if (!v2 && blocks.some((b) => b.depthwise.activation === 'linear')) throw fail('its depthwise convolutions have no activation');

  const rename = (op: NetOp | null, name: string): void => {
    if (op) op.name = name;
  };
  const blockEnds: string[] = [];
  if (!v2) {
    rename(stem, 'conv1');
    blocks.forEach((b, k) => {
      rename(b.depthwise, `conv_dw_${k + 1}`);
      rename(b.project, `conv_pw_${k + 1}`);
      blockEnds.push(b.project.name);
    });
  } else {
    rename(stem, 'Conv1');
    blocks.forEach((b, k) => {
      const prefix = k === 0 ? 'expanded_conv' : `block_${k}`;
      rename(b.expand, `${prefix}_expand`);
      rename(b.depthwise, `${prefix}_depthwise`);
      rename(b.project, `${prefix}_project`);
      rename(b.add, `${prefix}_add`);
      blockEnds.push((b.add ?? b.project).name);
    });
    rename(final, 'Conv_1');
    if (final) blockEnds.push(final.name);
  }
  return { ...net, version: v2 ? 2 : 1, blockEnds, stem: stem.name };
}
