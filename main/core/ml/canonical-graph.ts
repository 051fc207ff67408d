/**
 * Reads a MobileNet TF.js graph model (model.json with format "graph-model", as converted from
 * TF-Hub / TF-Slim) into canonical-net.ts' raw ops, by dataflow from the global pooling node
 * back to the input placeholder. Weights come from the graph's weight map by node name; TF's
 * converter has usually folded batch norm into the conv weights and a BiasAdd already.
 */
import nodePath from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CoreError } from '../errors.ts';
import { fileHandler } from './backbones.ts';
import type { Activation, Padding2D, RawNet, RawOp, WeightArray } from './canonical-net.ts';

interface AttrValue {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  list?: { s?: string[]; i?: (string | number)[] };
}
export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

const ACTIVATIONS: Record<string, Activation> = { Relu: 'relu', Relu6: 'relu6' };
const decode = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

/**
 * What the graph's input placeholder takes. TF-Slim trained MobileNets on [-1,1]; TF-Hub's image
 * modules wrap them with a Mul/Sub that maps [0,1] pixels to that. So a graph that rescales its
 * input takes [0,1]; one whose first convolution reads the placeholder directly takes [-1,1].
 */
const PLACEHOLDER_WITH_PREPROCESSING = { scale: 1 / 255, offset: 0 };
const PLACEHOLDER_WITHOUT_PREPROCESSING = { scale: 1 / 127.5, offset: -1 };

/** Reads the graph model in `dir` (its model.json already parsed as `json`). */
export async function readGraphNet(dir: string, json: { modelTopology?: { node?: GraphNode[] } }): Promise<RawNet> {
  const origin = dir;
  const fail = (node: GraphNode | string, what: string): CoreError =>
    new CoreError(
      'unsupported',
      `Seedbed cannot read the MobileNet graph model in ${origin}: ${what} (node "${typeof node === 'string' ? node : node.name}"${typeof node === 'string' ? '' : `, op ${node.op}`}). It reads MobileNet v1 and v2 graph models as TF-Hub and @tensorflow-models/mobilenet publish them.`,
    );
  const nodes = new Map<string, GraphNode>();
  for (const node of json.modelTopology?.node ?? []) nodes.set(node.name, node);

  const artifacts = await fileHandler(nodePath.join(dir, 'model.json')).load!();
  const tensors = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs ?? []);
  const weights = new Map<string, WeightArray>();
  try {
    for (const [name, t] of Object.entries(tensors)) weights.set(name, { values: Float32Array.from((await t.data()) as ArrayLike<number>), shape: t.shape });
  } finally {
    tf.dispose(Object.values(tensors));
  }

  const dataInputs = (node: GraphNode): string[] =>
    (node.input ?? []).filter((i) => !i.startsWith('^')).map((i) => {
      const [name, index] = i.split(':');
      if (index !== undefined && index !== '0') throw fail(node, `it reads output ${index} of "${name}"`);
      return name!;
    });
  const follow = (name: string): GraphNode => {
    let node = nodes.get(name);
    while (node && node.op === 'Identity') node = nodes.get(dataInputs(node)[0] ?? '');
    if (!node) throw fail(name, 'a node the graph names is missing');
    return node;
  };
  const constant = (name: string, user: GraphNode): WeightArray | null => {
    const node = follow(name);
    if (node.op !== 'Const') return null;
    const w = weights.get(node.name);
    if (!w) throw fail(user, `the weight "${node.name}" is not in the weight files`);
    return w;
  };
  const requireConst = (name: string, user: GraphNode): WeightArray => {
    const w = constant(name, user);
    if (!w) throw fail(user, `"${name}" is expected to be a constant weight`);
    return w;
  };
  const ints = (node: GraphNode, key: string): number[] => (node.attr?.[key]?.list?.i ?? []).map(Number);
  const text = (node: GraphNode, key: string): string | undefined => {
    const s = node.attr?.[key]?.s;
    return s === undefined ? undefined : decode(s);
  };

  // The feature map is what the global average pooling reads.
  const pool = [...nodes.values()].find(
    (n) => (n.op === 'Mean' || n.op === 'AvgPool') && dataInputs(n).some((i) => follow(i).op !== 'Const'),
  );
  if (!pool) throw new CoreError('unsupported', `The graph model in ${origin} has no global average pooling (Mean or AvgPool) node; Seedbed cannot find MobileNet's last feature map in it.`);
  const featureMap = follow(dataInputs(pool)[0]!).name;

  const ops: RawOp[] = [];
  const done = new Map<string, string>();
  // Affine preprocessing in the graph (TF-Hub: x·2 − 1), as placeholder·scale + offset.
  const affine = new Map<string, { scale: number; offset: number }>();
  let inputAffine: { scale: number; offset: number; node: string } | null = null;

  const convOp = (node: GraphNode, depthwise: boolean, input: string, id: string, padding: Padding2D | null): RawOp[] => {
    const out: RawOp[] = [];
    const strides = ints(node, 'strides');
    const dilations = ints(node, 'dilations');
    if ((text(node, 'data_format') ?? 'NHWC') !== 'NHWC') throw fail(node, 'a data format other than NHWC');
    if (strides.length !== 4 || strides[0] !== 1 || strides[3] !== 1) throw fail(node, `strides [${strides.join(', ')}]`);
    if (dilations.some((d) => d !== 1)) throw fail(node, 'a dilated convolution');
    const pad = text(node, 'padding');
    let conv = input;
    if (pad === 'EXPLICIT') {
      const e = ints(node, 'explicit_paddings');
      if (e.length !== 8 || e[0] || e[1] || e[6] || e[7]) throw fail(node, 'explicit padding of the batch or channel axis');
      out.push({ kind: 'pad', id: `${id}/explicit_pad`, source: node.name, input, padding: [[e[2]!, e[3]!], [e[4]!, e[5]!]] });
      conv = `${id}/explicit_pad`;
    } else if (pad !== 'SAME' && pad !== 'VALID') {
      throw fail(node, `padding "${pad}"`);
    }
    if (padding) {
      out.push({ kind: 'pad', id: `${id}/pad`, source: node.name, input, padding });
      conv = `${id}/pad`;
    }
    const kernel = requireConst(dataInputs(node)[1]!, node);
    out.push({ kind: 'conv', id, source: node.name, input: conv, depthwise, kernel, bias: null, strides: [strides[1]!, strides[2]!], padding: pad === 'SAME' ? 'same' : 'valid', activation: 'linear' });
    return out;
  };

  // Post-order over the dataflow, so every op's inputs are listed before it.
  const visit = (name: string): string => {
    const node = follow(name);
    const known = done.get(node.name);
    if (known !== undefined) return known;
    const inputs = dataInputs(node);
    const id = node.name;
    const dataInput = (i: number): string => {
      const src = follow(inputs[i]!);
      if (src.op === 'Placeholder' || isAffine(src)) {
        const a = affineOf(src);
        if (inputAffine && inputAffine.node !== src.name) throw fail(node, 'the input is preprocessed in two different ways');
        inputAffine = { ...a, node: src.name };
        return 'input';
      }
      return visit(src.name);
    };
    const emit = (...list: RawOp[]): string => {
      ops.push(...list);
      done.set(node.name, list[list.length - 1]!.id);
      return list[list.length - 1]!.id;
    };
    switch (node.op) {
      case 'Conv2D':
      case 'DepthwiseConv2dNative':
        return emit(...convOp(node, node.op !== 'Conv2D', dataInput(0), id, null));
      case '_FusedConv2D':
      case 'FusedDepthwiseConv2dNative': {
        const fused = (node.attr?.fused_ops?.list?.s ?? []).map(decode);
        const list = convOp(node, node.op !== '_FusedConv2D', dataInput(0), `${id}/conv`, null);
        const args = inputs.slice(2);
        let last = list[list.length - 1]!.id;
        for (const f of fused) {
          if (f === 'BiasAdd') {
            list.push({ kind: 'bias', id: `${id}/bias`, source: node.name, input: last, bias: requireConst(args.shift() ?? '', node).values });
          } else if (f === 'FusedBatchNorm') {
            const [scale, offset, mean, variance] = args.splice(0, 4).map((a) => requireConst(a, node).values);
            if (!variance) throw fail(node, 'a fused batch norm without its four weights');
            list.push({ kind: 'batchNorm', id: `${id}/bn`, source: node.name, input: last, gamma: scale!, beta: offset!, mean: mean!, variance, epsilon: node.attr?.epsilon?.f ?? 0.001 });
          } else if (ACTIVATIONS[f]) {
            list.push({ kind: 'activation', id: `${id}/act`, source: node.name, input: last, activation: ACTIVATIONS[f] });
          } else {
            throw fail(node, `the fused operation "${f}"`);
          }
          last = list[list.length - 1]!.id;
        }
        return emit(...list);
      }
      case 'BiasAdd':
      case 'Add':
      case 'AddV2': {
        const constIndex = inputs.findIndex((i) => follow(i).op === 'Const');
        if (constIndex < 0) return emit({ kind: 'add', id, source: node.name, inputs: [dataInput(0), dataInput(1)] });
        const bias = requireConst(inputs[constIndex]!, node);
        if (bias.shape.length !== 1) throw fail(node, `an addition of a constant of shape [${bias.shape.join(', ')}]`);
        return emit({ kind: 'bias', id, source: node.name, input: dataInput(1 - constIndex), bias: bias.values });
      }
      case 'FusedBatchNorm':
      case 'FusedBatchNormV3': {
        if (node.attr?.is_training?.b) throw fail(node, 'batch norm in training mode');
        const [scale, offset, mean, variance] = inputs.slice(1, 5).map((a) => requireConst(a, node).values);
        return emit({ kind: 'batchNorm', id, source: node.name, input: dataInput(0), gamma: scale!, beta: offset!, mean: mean!, variance: variance!, epsilon: node.attr?.epsilon?.f ?? 0.001 });
      }
      case 'Relu':
      case 'Relu6':
        return emit({ kind: 'activation', id, source: node.name, input: dataInput(0), activation: ACTIVATIONS[node.op]! });
      case 'Pad':
      case 'PadV2': {
        const p = requireConst(inputs[1]!, node).values;
        if (node.op === 'PadV2' && (constant(inputs[2] ?? '', node)?.values[0] ?? 0) !== 0) throw fail(node, 'padding with a value other than zero');
        if (p.length !== 8 || p[0] || p[1] || p[6] || p[7]) throw fail(node, 'padding of the batch or channel axis');
        return emit({ kind: 'pad', id, source: node.name, input: dataInput(0), padding: [[p[2]!, p[3]!], [p[4]!, p[5]!]] });
      }
      default:
        throw fail(node, `the operation ${node.op}, which is not part of a MobileNet Seedbed knows`);
    }
  };

  const isAffine = (node: GraphNode): boolean => {
    if (!['Mul', 'Sub', 'Add', 'AddV2', 'RealDiv', 'Div'].includes(node.op)) return false;
    const ins = dataInputs(node).map(follow);
    return ins.length === 2 && ins.some((n) => n.op === 'Const' && weights.get(n.name)?.values.length === 1) && ins.some((n) => n.op === 'Placeholder' || isAffine(n));
  };
  const affineOf = (node: GraphNode): { scale: number; offset: number } => {
    if (node.op === 'Placeholder') return { scale: 1, offset: 0 };
    const known = affine.get(node.name);
    if (known) return known;
    const ins = dataInputs(node).map(follow);
    const constFirst = ins[0]!.op === 'Const';
    const c = weights.get((constFirst ? ins[0]! : ins[1]!).name)!.values[0]!;
    const x = affineOf(constFirst ? ins[1]! : ins[0]!);
    let result: { scale: number; offset: number };
    switch (node.op) {
      case 'Mul':
        result = { scale: x.scale * c, offset: x.offset * c };
        break;
      case 'Sub':
        result = constFirst ? { scale: -x.scale, offset: c - x.offset } : { scale: x.scale, offset: x.offset - c };
        break;
      case 'RealDiv':
      case 'Div':
        if (constFirst) throw fail(node, 'a division by the input');
        result = { scale: x.scale / c, offset: x.offset / c };
        break;
      default:
        result = { scale: x.scale, offset: x.offset + c };
    }
    affine.set(node.name, result);
    return result;
  };

  const output = visit(featureMap);
  const scaling = inputAffine as { scale: number; offset: number; node: string } | null;
  if (!scaling) throw new CoreError('unsupported', `The graph model in ${origin} does not connect its input to its feature map "${featureMap}".`);
  const placeholder = follow(scaling.node).op === 'Placeholder' ? PLACEHOLDER_WITHOUT_PREPROCESSING : PLACEHOLDER_WITH_PREPROCESSING;
  return { origin, inputScale: placeholder.scale * scaling.scale, inputOffset: placeholder.offset * scaling.scale + scaling.offset, ops, output };
}
