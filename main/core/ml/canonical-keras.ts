/**
 * Reads a MobileNet Keras/TF.js layers model (Keras applications' MobileNet and MobileNetV2,
 * or a Teachable Machine export whose first layer nests the backbone) into canonical-net.ts'
 * raw ops, layer by layer up to the first global pooling (or the backbone's own output).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { CoreError } from '../errors.ts';
import type { Activation, Padding2D, RawNet, RawOp, WeightArray } from './canonical-net.ts';

/** Keras MobileNets take pixels scaled to [-1,1]. */
const LAYERS_INPUT = { scale: 1 / 127.5, offset: -1 };

/** Layers where MobileNet's feature extractor ends: the head starts here. */
const HEAD_LAYERS = new Set(['GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'AveragePooling2D', 'Flatten', 'Reshape', 'Dropout', 'Dense']);

type Config = Record<string, unknown>;

const weightArray = (t: tf.Tensor): WeightArray => ({ values: Float32Array.from(t.dataSync() as ArrayLike<number>), shape: [...t.shape] });

/** The functional model holding the convolutions: Teachable Machine nests it as layers[0] (of layers[0]). */
function backboneGraph(model: tfl.LayersModel): tfl.LayersModel {
  let inner = model;
  while (inner.layers[0] instanceof tfl.LayersModel) inner = inner.layers[0];
  return inner;
}

/** Reads `model` (loaded from `origin`) without changing or disposing it. */
export function readLayersNet(model: tfl.LayersModel, origin: string): RawNet {
  const graph = backboneGraph(model);
  const fail = (layer: tfl.layers.Layer, what: string): CoreError =>
    new CoreError(
      'unsupported',
      `Seedbed cannot read the MobileNet layers model in ${origin}: ${what} (layer "${layer.name}", ${layer.getClassName()}). It reads Keras' MobileNet and MobileNetV2 as TensorFlow.js and Teachable Machine publish them.`,
    );
  const activationOf = (layer: tfl.layers.Layer, name: unknown): Activation => {
    if (name === 'linear' || name === 'relu' || name === 'relu6') return name;
    throw fail(layer, `the activation "${String(name)}"`);
  };
  const ops: RawOp[] = [];
  const ids = new Map<tfl.layers.Layer, string>();
  let scale = LAYERS_INPUT.scale;
  let offset = LAYERS_INPUT.offset;
  let output: string | null = null;

  for (const layer of graph.layers) {
    const className = layer.getClassName();
    const node = layer.inboundNodes[0];
    const inputs = (node?.inboundLayers ?? []).map((l) => {
      const id = ids.get(l);
      if (id === undefined) throw fail(layer, `its input "${l.name}" is not part of the backbone read so far`);
      return id;
    });
    const only = (): string => {
      if (inputs.length !== 1) throw fail(layer, `${inputs.length} inputs where one was expected`);
      return inputs[0]!;
    };
    if (HEAD_LAYERS.has(className)) {
      output = only();
      break;
    }
    const config = layer.getConfig() as Config;
    const id = layer.name;
    ids.set(layer, id);
    switch (className) {
      case 'InputLayer':
        ids.set(layer, 'input');
        break;
      case 'Rescaling': {
        if (only() !== 'input' || ops.length > 0) throw fail(layer, 'rescaling inside the network');
        const s = Number(config.scale);
        const o = Number(config.offset ?? 0);
        // A model that rescales its own input takes pixels as they are (0..255), not [-1,1].
        [scale, offset] = [s, o];
        ids.set(layer, 'input');
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const weights = layer.getWeights();
        const dilation = [config.dilationRate].flat() as number[];
        if (config.dataFormat !== 'channelsLast') throw fail(layer, 'channels-first data');
        if (dilation.some((d) => d !== 1)) throw fail(layer, 'a dilated convolution');
        if (config.padding !== 'same' && config.padding !== 'valid') throw fail(layer, `padding "${String(config.padding)}"`);
        const strides = config.strides as [number, number];
        ops.push({
          kind: 'conv', id, source: layer.name, input: only(), depthwise: className === 'DepthwiseConv2D',
          kernel: weightArray(weights[0]!), bias: config.useBias && weights[1] ? weightArray(weights[1]).values : null,
          strides: [strides[0], strides[1] ?? strides[0]], padding: config.padding, activation: activationOf(layer, config.activation),
        });
        break;
      }
      case 'BatchNormalization': {
        const axis = [config.axis].flat() as number[];
        if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== 3)) throw fail(layer, 'batch norm over an axis other than channels');
        // tfjs-layers adds gamma (if scale), beta (if center), moving mean, moving variance, in that order.
        const weights = layer.getWeights().map((t) => weightArray(t).values);
        const gamma = config.scale ? weights.shift()! : null;
        const beta = config.center ? weights.shift()! : null;
        const [mean, variance] = weights;
        if (!mean || !variance) throw fail(layer, 'batch norm without its moving statistics');
        ops.push({ kind: 'batchNorm', id, source: layer.name, input: only(), gamma, beta, mean, variance, epsilon: Number(config.epsilon) });
        break;
      }
      case 'ReLU': {
        const max = config.maxValue;
        if (max != null && max !== 6) throw fail(layer, `ReLU capped at ${String(max)}`);
        ops.push({ kind: 'activation', id, source: layer.name, input: only(), activation: max === 6 ? 'relu6' : 'relu' });
        break;
      }
      case 'Activation':
        ops.push({ kind: 'activation', id, source: layer.name, input: only(), activation: activationOf(layer, config.activation) });
        break;
      case 'ZeroPadding2D': {
        if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') throw fail(layer, 'channels-first data');
        ops.push({ kind: 'pad', id, source: layer.name, input: only(), padding: config.padding as Padding2D });
        break;
      }
      case 'Add':
        if (inputs.length !== 2) throw fail(layer, `an addition of ${inputs.length} tensors`);
        ops.push({ kind: 'add', id, source: layer.name, inputs: [inputs[0]!, inputs[1]!] });
        break;
      default:
        throw fail(layer, 'a layer that is not part of a MobileNet Seedbed knows');
    }
  }
  // A backbone without a head ends at its own output.
  output ??= graph.outputs.length === 1 ? (ids.get(graph.outputs[0]!.sourceLayer) ?? null) : null;
  if (output === null) throw new CoreError('unsupported', `The layers model in ${origin} has no single feature map Seedbed can find (no global pooling after the convolutions).`);
  return { origin, inputScale: scale, inputOffset: offset, ops, output };
}
