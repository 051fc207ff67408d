/**
 * The MobileNet backbones, named as @tensorflow-models/mobilenet names them, and how each one
 * is loaded from disk and turned into an embedding model. The shape of a folder's model.json
 * (graph model, Keras layers model, Teachable Machine Sequential) decides how it is read.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-converter';
import { CoreError } from '../errors.ts';

export type InputScaling = '[0,1]' | '[-1,1]';

export interface BackboneSpec {
  id: string;
  version: 1 | 2;
  alpha: number;
  inputSize: 224;
  /** Embedding width: MobileNet's last feature map has 1024·α channels (v1), 1280 (v2, α ≤ 1). */
  dims: number;
}

// Ids as the model folders are named: 0.25, 0.5, 0.75, 1.0.
const alphaName = (alpha: number): string => (alpha === 1 ? '1.0' : String(alpha));
const v1 = (alpha: number): BackboneSpec => ({ id: `mobilenet_v1_${alphaName(alpha)}_224`, version: 1, alpha, inputSize: 224, dims: Math.round(1024 * alpha) });
const v2 = (alpha: number): BackboneSpec => ({ id: `mobilenet_v2_${alphaName(alpha)}_224`, version: 2, alpha, inputSize: 224, dims: 1280 });

/** @tensorflow-models/mobilenet's v1 α 0.25/0.5/0.75/1.0 and v2 α 0.5/0.75/1.0, plus the v2 α 0.35 Teachable Machine ships. */
export const BACKBONES: readonly BackboneSpec[] = [v1(0.25), v1(0.5), v1(0.75), v1(1), v2(0.35), v2(0.5), v2(0.75), v2(1)];

export function backboneSpec(id: string): BackboneSpec {
  const spec = BACKBONES.find((b) => b.id === id);
  if (!spec) throw new CoreError('invalid_input', `"${id}" is not a backbone Seedbed knows. Use one of: ${BACKBONES.map((b) => b.id).join(', ')}.`);
  return spec;
}

export interface WeightSources {
  /** A folder the user chose (holding <id>/model.json, or model.json itself). */
  userDir?: string | null;
  /** The app's model cache folder. */
  cacheDir?: string | null;
  env?: NodeJS.ProcessEnv;
}

/** Where a backbone's weights were found: the folder, and which of the sources it came from. */
export interface BackboneLocation {
  dir: string;
  source: 'folder' | 'cache' | 'env';
}

/** Finds the backbone's model.json, looking in order: user folder, app cache, SEEDBED_MODELS_DIR. */
export function locateBackbone(id: string, sources: WeightSources = {}): BackboneLocation | null {
  backboneSpec(id);
  const roots: [string | null | undefined, BackboneLocation['source']][] = [
    [sources.userDir, 'folder'],
    [sources.cacheDir, 'cache'],
    [(sources.env ?? process.env).SEEDBED_MODELS_DIR, 'env'],
  ];
  for (const [root, source] of roots) {
    if (!root) continue;
    // Either a folder of backbones (<root>/<id>/model.json) or the backbone's own folder.
    const dir = nodePath.basename(root) === id ? root : nodePath.join(root, id);
    if (fs.existsSync(nodePath.join(dir, 'model.json'))) return { dir, source };
  }
  return null;
}

/** The folder holding the backbone's model.json (see locateBackbone), or null. */
export function resolveBackboneDir(id: string, sources: WeightSources = {}): string | null {
  return locateBackbone(id, sources)?.dir ?? null;
}

/** Backbones whose weights are on this machine. */
export function availableBackbones(sources: WeightSources = {}): BackboneSpec[] {
  return BACKBONES.filter((b) => resolveBackboneDir(b.id, sources) !== null);
}

/** A tf.io handler reading model.json and its weight shards with fs (no fetch, no file:// URLs). */
export function fileHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async (): Promise<tf.io.ModelArtifacts> => {
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (err) {
        throw new CoreError('io_error', `Seedbed cannot read the model file ${modelJsonPath}: ${(err as Error).message}`);
      }
      const dir = nodePath.dirname(modelJsonPath);
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of json.weightsManifest ?? []) {
        for (const p of group.paths) {
          const shard = nodePath.join(dir, p);
          try {
            buffers.push(fs.readFileSync(shard));
          } catch (err) {
            throw new CoreError('io_error', `The model ${modelJsonPath} needs the weight file ${shard}, which cannot be read: ${(err as Error).message}`);
          }
        }
        specs.push(...group.weights);
      }
      const joined = Buffer.concat(buffers);
      const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer;
      return tf.io.getModelArtifactsForJSONSync(json, specs, weightData);
    },
  };
}

/** A backbone ready to embed: input [n,224,224,3] in [0,255] → [n, dims]. */
export interface LoadedBackbone {
  id: string;
  dims: number;
  scaling: InputScaling;
  format: 'graph' | 'layers';
  /** Call inside tf.tidy. */
  embed(pixels: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

function scale(pixels: tf.Tensor4D, scaling: InputScaling): tf.Tensor4D {
  return scaling === '[0,1]' ? tf.div(pixels, 255) : tf.sub(tf.div(pixels, 127.5), 1);
}

const GRAPH_EMBEDDING_NODES = ['module_apply_default/MobilenetV1/Logits/global_pool', 'module_apply_default/MobilenetV2/Logits/AvgPool'];

/** Loads the backbone from its folder, detecting the format from model.json. */
export async function loadBackbone(id: string, dir: string): Promise<LoadedBackbone> {
  const spec = backboneSpec(id);
  const jsonPath = nodePath.join(dir, 'model.json');
  const raw = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as { format?: string; modelTopology?: Record<string, unknown> };
  if (raw.format === 'graph-model') {
    const model = await tfc.loadGraphModel(fileHandler(jsonPath));
    const nodes = new Set(((raw.modelTopology?.node as { name: string }[] | undefined) ?? []).map((n) => n.name));
    const node = GRAPH_EMBEDDING_NODES.find((n) => nodes.has(n));
    if (!node) {
      model.dispose();
      throw new CoreError('unsupported', `The graph model in ${dir} has no MobileNet pooling node (${GRAPH_EMBEDDING_NODES.join(' or ')}); Seedbed cannot take embeddings from it.`);
    }
    return {
      id, dims: spec.dims, scaling: '[0,1]', format: 'graph',
      embed: (pixels) => {
        const out = model.execute(scale(pixels, '[0,1]'), node) as tf.Tensor;
        return tf.reshape(out, [pixels.shape[0], -1]) as tf.Tensor2D;
      },
      dispose: () => model.dispose(),
    };
  }
  const model = await tfl.loadLayersModel(fileHandler(jsonPath));
  let backbone: tfl.LayersModel;
  const first = model.layers[0];
  if (model.layers.length <= 3 && first instanceof tfl.LayersModel) {
    // Teachable Machine: layers[0] is the backbone (ending in global pooling), layers[1] a head.
    backbone = first;
  } else {
    const last = model.layers.find((l) => l.name === 'conv_pw_13_relu') ?? model.layers.find((l) => l.name === 'out_relu');
    if (!last) {
      model.dispose();
      throw new CoreError('unsupported', `The layers model in ${dir} has neither conv_pw_13_relu nor out_relu; Seedbed cannot take embeddings from it.`);
    }
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(last.output) as tfl.SymbolicTensor;
    // Shares the loaded model's weights: disposing `model` frees them.
    backbone = tfl.model({ inputs: model.inputs, outputs: pooled });
  }
  return {
    id, dims: spec.dims, scaling: '[-1,1]', format: 'layers',
    embed: (pixels) => tf.reshape(backbone.predict(scale(pixels, '[-1,1]')) as tf.Tensor, [pixels.shape[0], -1]) as tf.Tensor2D,
    dispose: () => model.dispose(),
  };
}
