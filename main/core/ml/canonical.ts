/**
 * One canonical TF.js layers model for every MobileNet backbone Seedbed loads, whatever shape
 * its files have (TF-Hub graph model, Keras layers model, Teachable Machine export): pixels in
 * 0..255 → Rescaling → convolutions with batch norm folded into kernel and bias → last feature
 * map. Only standard tfjs-layers layers, so it can be fine-tuned, joined with a head into one
 * model, saved with tf.io and loaded anywhere with plain @tensorflow/tfjs.
 *
 * Derived models (featureModel, splitTop, assembleClassifier) share the backbone's weight
 * variables. Each may be disposed on its own; the weights go when the backbone's dispose()
 * runs, which also disposes every derived model still alive.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { CoreError } from '../errors.ts';
import { backboneSpec, fileHandler } from './backbones.ts';
import { readGraphNet, type GraphNode } from './canonical-graph.ts';
import { readLayersNet } from './canonical-keras.ts';
import { foldNet, INPUT_SIZE, nameBlocks, type NamedNet, type NetOp, type RawNet } from './canonical-net.ts';

export interface CanonicalBackbone {
  id: string;
  version: 1 | 2;
  alpha: number;
  /** pixels [n,224,224,3] in 0..255 (float32) → last feature map [n,7,7,C]; the input scaling is a Rescaling layer inside. */
  model: tfl.LayersModel;
  /** Names of layers whose outputs end a block (v1: the 13 pointwise convs; v2: each block's output, then the final 1×1 conv), in order. */
  blockEnds: string[];
  dispose(): void;
}

export interface FeatureTap {
  /** A layer of the backbone with a 4-D output, usually one of `blockEnds`. */
  layer: string;
  pooling: 'avg' | 'avg+max';
}

type SymbolicTensor = tfl.SymbolicTensor;
type Layer = tfl.layers.Layer;

/** Models derived from each backbone and still alive, so the backbone's dispose() can take them along. */
const derivedModels = new WeakMap<tfl.LayersModel, Set<tfl.LayersModel>>();

// tfjs-layers counts, per layer, the models built by applying it; a model's dispose() decrements every
// layer it contains and frees a layer's weights at zero. A model made from the backbone's own symbolic
// tensors contains layers it never applied, so it takes a count on them here.
type Counted = { _refCount: number | null };
const refCount = (x: Layer | tfl.LayersModel): Counted => x as unknown as Counted;
const isAlive = (model: tfl.LayersModel): boolean => (refCount(model)._refCount ?? 0) > 0;

function registerDerived(backbone: tfl.LayersModel, derived: tfl.LayersModel, borrowed: Layer[]): tfl.LayersModel {
  for (const layer of borrowed) {
    if (layer.getClassName() !== 'InputLayer') refCount(layer)._refCount = (refCount(layer)._refCount ?? 0) + 1;
  }
  let set = derivedModels.get(backbone);
  if (!set) derivedModels.set(backbone, (set = new Set()));
  for (const model of set) if (!isAlive(model)) set.delete(model);
  set.add(derived);
  return derived;
}

/**
 * Runs the layer as one fused kernel (convolution + bias + activation, relu6 included), as the
 * graph-model executor does. tfjs-layers fuses only relu and linear into Conv2D and nothing into
 * DepthwiseConv2D; its separate bias add and relu6 (relu, then minimum) cost as much as the
 * convolutions on wasm. Only this process's instances run differently: the class and config are
 * the standard ones, so a saved model loads and computes the same anywhere. While gradients are
 * recorded, tf.fused falls back to separate ops with their own gradients.
 */
function fuseCall(layer: Layer, op: NetOp & { kind: 'conv' }): void {
  const [kernel, bias] = layer.weights;
  if (!kernel || !bias) throw new CoreError('internal', `The canonical layer ${layer.name} was built without its weights.`);
  const args = { strides: op.strides, pad: op.padding, activation: op.activation, dataFormat: 'NHWC' as const };
  layer.call = (inputs) =>
    tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const filter = kernel.read() as tf.Tensor4D;
      return op.depthwise ? tf.fused.depthwiseConv2d({ x, filter, bias: bias.read(), ...args }) : tf.fused.conv2d({ x, filter, bias: bias.read(), ...args });
    });
}

/** Builds the canonical layers model from a named, folded net. */
function buildModel(net: NamedNet, name: string): tfl.LayersModel {
  const pixels = tfl.input({ shape: [INPUT_SIZE, INPUT_SIZE, 3], name: 'pixels', dtype: 'float32' });
  const scaled = tfl.layers.rescaling({ scale: net.inputScale, offset: net.inputOffset, name: 'rescaling' }).apply(pixels) as SymbolicTensor;
  const tensors = new Map<string, SymbolicTensor>([['input', scaled]]);
  const weighted: { layer: Layer; kernel: { values: Float32Array; shape: number[] }; bias: Float32Array }[] = [];
  for (const op of net.ops) {
    if (op.kind === 'add') {
      tensors.set(op.id, tfl.layers.add({ name: op.name }).apply(op.inputs.map((i) => tensors.get(i)!)) as SymbolicTensor);
      continue;
    }
    let x = tensors.get(op.input)!;
    if (op.pad) x = tfl.layers.zeroPadding2d({ padding: op.pad, name: `${op.name}_pad` }).apply(x) as SymbolicTensor;
    const [kh, kw, , out] = op.kernel.shape as [number, number, number, number];
    // Zero initialisers: the real weights are set right after, and random ones would cost time.
    const layer = op.depthwise
      ? tfl.layers.depthwiseConv2d({
          name: op.name, kernelSize: [kh, kw], strides: op.strides, padding: op.padding, depthMultiplier: out,
          activation: op.activation, useBias: true, depthwiseInitializer: 'zeros', biasInitializer: 'zeros',
        })
      : tfl.layers.conv2d({
          name: op.name, filters: out, kernelSize: [kh, kw], strides: op.strides, padding: op.padding,
          activation: op.activation, useBias: true, kernelInitializer: 'zeros', biasInitializer: 'zeros',
        });
    tensors.set(op.id, layer.apply(x) as SymbolicTensor);
    fuseCall(layer, op);
    weighted.push({ layer, kernel: op.kernel, bias: op.bias });
  }
  const model = tfl.model({ inputs: pixels, outputs: tensors.get(net.output)!, name });
  for (const { layer, kernel, bias } of weighted) {
    // The variables take the data over; tidy frees only the wrappers.
    tf.tidy(() => layer.setWeights([tf.tensor(kernel.values, kernel.shape), tf.tensor1d(bias)]));
  }
  return model;
}

/** Loads the backbone `id` from `dir` (graph or layers model.json) as one canonical layers model. */
export async function loadCanonicalBackbone(id: string, dir: string): Promise<CanonicalBackbone> {
  const spec = backboneSpec(id);
  const jsonPath = nodePath.join(dir, 'model.json');
  let json: { format?: string; modelTopology?: { node?: GraphNode[] } };
  try {
    json = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as typeof json;
  } catch (err) {
    throw new CoreError('io_error', `Seedbed cannot read the model file ${jsonPath}: ${(err as Error).message}`);
  }
  let raw: RawNet;
  if (json.format === 'graph-model' || Array.isArray(json.modelTopology?.node)) {
    raw = await readGraphNet(dir, json);
  } else {
    const source = await tfl.loadLayersModel(fileHandler(jsonPath));
    const weights = source.weights;
    try {
      raw = readLayersNet(source, dir);
    } finally {
      source.dispose();
      // tfjs-layers leaves the weights of a nested Sequential (Teachable Machine's head) behind.
      for (const w of weights) {
        try {
          w.dispose();
        } catch {
          // Already disposed with its model.
        }
      }
    }
  }
  const net = nameBlocks(foldNet(raw));
  const [h, w, channels] = net.shapes.get(net.output)!;
  if (net.version !== spec.version) {
    throw new CoreError('unsupported', `The model in ${dir} is a MobileNet v${net.version}, not ${id} (v${spec.version}). Put the ${id} files in that folder, or choose the backbone the folder holds.`);
  }
  if (channels !== spec.dims || h !== 7 || w !== 7) {
    throw new CoreError('unsupported', `The model in ${dir} ends in a ${h}×${w}×${channels} feature map, where ${id} has 7×7×${spec.dims}. Put the ${id} files in that folder, or choose the backbone the folder holds.`);
  }
  const model = buildModel(net, id);
  return {
    id, version: net.version, alpha: spec.alpha, model, blockEnds: net.blockEnds,
    dispose: () => {
      for (const derived of derivedModels.get(model) ?? []) if (isAlive(derived)) derived.dispose();
      derivedModels.delete(model);
      if (isAlive(model)) model.dispose();
    },
  };
}

/** The backbone layer's output in the backbone model itself (node 0: later applications add nodes). */
function backboneOutput(b: CanonicalBackbone, name: string): SymbolicTensor {
  let layer: Layer;
  try {
    layer = b.model.getLayer(name);
  } catch {
    throw new CoreError('invalid_input', `${b.id} has no layer "${name}". Its block ends are: ${b.blockEnds.join(', ')}.`);
  }
  const out = layer.getOutputAt(0) as SymbolicTensor;
  if (out.shape.length !== 4) throw new CoreError('invalid_input', `The layer "${name}" of ${b.id} has no feature map to pool (its output is ${out.shape.length}-D).`);
  return out;
}

function pooledFeatures(b: CanonicalBackbone, taps: FeatureTap[]): SymbolicTensor {
  if (taps.length === 0) throw new CoreError('invalid_input', 'Features need at least one layer to pool.');
  if (new Set(taps.map((t) => t.layer)).size !== taps.length) throw new CoreError('invalid_input', `A layer is listed twice among the features to pool: ${taps.map((t) => t.layer).join(', ')}.`);
  const pooled: SymbolicTensor[] = [];
  for (const tap of taps) {
    const map = backboneOutput(b, tap.layer);
    pooled.push(tfl.layers.globalAveragePooling2d({ name: `${tap.layer}_gap` }).apply(map) as SymbolicTensor);
    if (tap.pooling === 'avg+max') pooled.push(tfl.layers.globalMaxPooling2d({ name: `${tap.layer}_gmp` }).apply(map) as SymbolicTensor);
  }
  return pooled.length === 1 ? pooled[0]! : (tfl.layers.concatenate({ axis: -1, name: 'pooled_features' }).apply(pooled) as SymbolicTensor);
}

/** The layers of `model` (from b.model's own tensors, not re-applied) that a derived model contains. */
const borrowedFrom = (b: CanonicalBackbone, derived: tfl.LayersModel): Layer[] => {
  const own = new Set(b.model.layers);
  return derived.layers.filter((l) => own.has(l));
};

/**
 * pixels → concatenated global-average-pooled (and for 'avg+max' also global-max-pooled)
 * features of the tapped layers, in the order given (per tap: avg, then max); shares b's weights.
 */
export function featureModel(b: CanonicalBackbone, taps: FeatureTap[]): tfl.LayersModel {
  const features = pooledFeatures(b, taps);
  const model = tfl.model({ inputs: b.model.inputs, outputs: features, name: `${b.id}_features` });
  return registerDerived(b.model, model, borrowedFrom(b, model));
}

/**
 * Split for fine-tuning the top N blocks: lower = pixels → activation before those blocks (for
 * predict only: run once and cache its output), upper = that activation → the last feature map
 * (its layers are b.model's own, so training upper trains the backbone). N is 1..maxBlocks;
 * N = maxBlocks cuts right after the stem convolution.
 */
export function splitTop(b: CanonicalBackbone, topBlocks: number): { lower: tfl.LayersModel; upper: tfl.LayersModel; cutLayer: string; maxBlocks: number } {
  const maxBlocks = b.blockEnds.length;
  if (!Number.isInteger(topBlocks) || topBlocks < 1 || topBlocks > maxBlocks) {
    throw new CoreError('invalid_input', `Fine-tuning can unfreeze 1 to ${maxBlocks} blocks of ${b.id}, not ${topBlocks}.`);
  }
  const layers = b.model.layers;
  const stem = layers.find((l) => l.getClassName() === 'Conv2D')!;
  const cutLayer = topBlocks === maxBlocks ? stem.name : b.blockEnds[maxBlocks - topBlocks - 1]!;
  const cut = backboneOutput(b, cutLayer);
  const lower = tfl.model({ inputs: b.model.inputs, outputs: cut, name: `${b.id}_lower_${topBlocks}` });
  registerDerived(b.model, lower, borrowedFrom(b, lower));

  const activation = tfl.input({ shape: cut.shape.slice(1) as number[], name: `${cutLayer}_activation`, dtype: 'float32' });
  const above = applyAbove(b, cutLayer, activation);
  const upper = tfl.model({ inputs: activation, outputs: above(b.model.outputs[0]!), name: `${b.id}_upper_${topBlocks}` });
  // Upper applied every layer anew, which already counted it.
  registerDerived(b.model, upper, []);
  return { lower, upper, cutLayer, maxBlocks };
}

/** The layers `replay` applies: nested models' layers in place of the models. */
function flatLayers(model: tfl.LayersModel): Layer[] {
  return model.layers.flatMap((l) => (l instanceof tfl.LayersModel ? flatLayers(l) : l.getClassName() === 'InputLayer' ? [] : [l]));
}

/**
 * Applies the backbone's layers above `cutLayer` to `activation` (a tensor shaped like that
 * layer's output), sharing their weights. Returns the counterpart of any of the backbone's own
 * tensors above the cut (its node-0 outputs), e.g. a tapped block end or the last feature map.
 */
export function applyAbove(b: CanonicalBackbone, cutLayer: string, activation: SymbolicTensor): (original: SymbolicTensor) => SymbolicTensor {
  const layers = b.model.layers;
  const mapped = new Map<SymbolicTensor, SymbolicTensor>([[b.model.getLayer(cutLayer).getOutputAt(0) as SymbolicTensor, activation]]);
  for (const layer of layers.slice(layers.indexOf(b.model.getLayer(cutLayer)) + 1)) {
    const node = layer.inboundNodes[0]!;
    const inputs = node.inputTensors.map((t) => mapped.get(t));
    if (inputs.some((t) => t === undefined)) {
      throw new CoreError('internal', `${b.id} cannot be split at "${cutLayer}": the layer "${layer.name}" also reads from below the cut.`);
    }
    const out = layer.apply(inputs.length === 1 ? inputs[0]! : (inputs as SymbolicTensor[])) as SymbolicTensor;
    mapped.set(node.outputTensors[0]!, out);
  }
  return (original) => {
    const out = mapped.get(original);
    if (!out) throw new CoreError('internal', `${b.id} has no tensor "${original.name}" above "${cutLayer}".`);
    return out;
  };
}

/** Applies `model`'s layers (flattening nested models) to `inputs`; returns its outputs' counterparts. */
function replay(model: tfl.LayersModel, inputs: SymbolicTensor[]): SymbolicTensor[] {
  const mapped = new Map<SymbolicTensor, SymbolicTensor>();
  model.inputs.forEach((t, i) => mapped.set(t, inputs[i]!));
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    const node = layer.inboundNodes.find((n) => n.inputTensors.length > 0 && n.inputTensors.every((t) => mapped.has(t)));
    if (!node) throw new CoreError('invalid_input', `The head's layer "${layer.name}" is not connected to the head's input.`);
    const ins = node.inputTensors.map((t) => mapped.get(t)!);
    const outs = layer instanceof tfl.LayersModel ? replay(layer, ins) : [layer.apply(ins.length === 1 ? ins[0]! : ins)].flat() as SymbolicTensor[];
    node.outputTensors.forEach((t, i) => mapped.set(t, outs[i]!));
  }
  return model.outputs.map((t) => {
    const out = mapped.get(t);
    if (!out) throw new CoreError('invalid_input', `The head's output "${t.name}" is not connected to the head's input.`);
    return out;
  });
}

/**
 * One plain layers model pixels → class probabilities: the backbone (with any fine-tuned
 * weights) + the head's layers applied to the pooled features (nested models flattened).
 * Saveable with tf.io and loadable with plain @tensorflow/tfjs; shares b's and the head's weights.
 */
export function assembleClassifier(b: CanonicalBackbone, taps: FeatureTap[], head: tfl.LayersModel): tfl.LayersModel {
  if (head.inputs.length !== 1) throw new CoreError('invalid_input', `The head takes ${head.inputs.length} inputs; a classifier head takes the pooled features only.`);
  const features = pooledFeatures(b, taps);
  const width = features.shape[1];
  if (head.inputs[0]!.shape.length !== 2 || head.inputs[0]!.shape[1] !== width) {
    throw new CoreError('invalid_input', `The head takes inputs of shape [${head.inputs[0]!.shape.map(String).join(', ')}], but the pooled features of ${b.id} are [null, ${width}].`);
  }
  // Checked before any head layer is applied: a model with two layers of one name cannot be built.
  const taken = new Set([...b.model.layers.map((l) => l.name), features.sourceLayer.name, ...features.inputs.map((t) => t.sourceLayer.name)]);
  const clash = flatLayers(head).find((l) => taken.has(l.name));
  if (clash) throw new CoreError('invalid_input', `The head's layer "${clash.name}" has the name of a layer of ${b.id}'s feature extractor; rename it.`);
  const outputs = replay(head, [features]);
  const model = tfl.model({ inputs: b.model.inputs, outputs, name: `${b.id}_classifier` });
  return registerDerived(b.model, model, borrowedFrom(b, model));
}
