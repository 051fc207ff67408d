import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { CoreError } from '../errors.ts';
import { loadBackbone } from './backbones.ts';
import { assembleClassifier, featureModel, loadCanonicalBackbone, splitTop, type CanonicalBackbone, type FeatureTap } from './canonical.ts';
import { chooseBackend } from './runtime.ts';

const MODELS = process.env.SEEDBED_MODELS_DIR || nodePath.resolve(import.meta.dirname, '../../../../shared/models');
const TRASHNET = nodePath.resolve(import.meta.dirname, '../../../../shared/data/trashnet');
const REPO = nodePath.resolve(import.meta.dirname, '../../..');
const IMAGES = ['cardboard/cardboard1.jpg', 'glass/glass1.jpg', 'metal/metal1.jpg', 'paper/paper1.jpg'].map((f) => nodePath.join(TRASHNET, f));
const SHARED = [
  { id: 'mobilenet_v1_0.25_224', dims: 256, blocks: 13 },
  { id: 'mobilenet_v1_0.75_224', dims: 768, blocks: 13 },
  { id: 'mobilenet_v2_0.35_224', dims: 1280, blocks: 18 },
];
/** What a plain @tensorflow/tfjs can load without any custom layer. */
const STANDARD_LAYERS = new Set(['InputLayer', 'Rescaling', 'Conv2D', 'DepthwiseConv2D', 'ZeroPadding2D', 'Add', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'Concatenate', 'Dense', 'Dropout']);
const SIZE = 224;
const haveData = fs.existsSync(TRASHNET) && SHARED.every((m) => fs.existsSync(nodePath.join(MODELS, m.id)));
const skip = haveData ? false : `needs ../shared/data/trashnet and ${SHARED.map((m) => m.id).join(', ')} in ${MODELS}`;
const haveV1 = fs.existsSync(nodePath.join(MODELS, 'mobilenet_v1_0.25_224'));
const skipWithoutV1 = haveV1 ? false : `needs mobilenet_v1_0.25_224 in ${MODELS}`;

let pixels: tf.Tensor4D;
const scratch = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-canonical-'));

// As embed.worker.ts decodes: EXIF rotation, 224×224 cover crop, raw sRGB.
async function decode(path: string): Promise<Buffer> {
  return sharp(path, { failOn: 'none' }).rotate().resize(SIZE, SIZE, { fit: 'cover', position: 'centre' }).removeAlpha().toColourspace('srgb').raw().toBuffer();
}

before(async () => {
  await chooseBackend();
  if (!haveData) return;
  const data = new Float32Array(IMAGES.length * SIZE * SIZE * 3);
  for (const [i, path] of IMAGES.entries()) data.set(await decode(path), i * SIZE * SIZE * 3);
  pixels = tf.tensor4d(data, [IMAGES.length, SIZE, SIZE, 3]);
});
after(() => {
  pixels?.dispose();
  fs.rmSync(scratch, { recursive: true, force: true });
});

const dirOf = (id: string): string => nodePath.join(MODELS, id);
const values = (f: () => tf.Tensor): Float32Array => {
  const t = tf.tidy(f);
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
};
const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const lastTap = (b: CanonicalBackbone): FeatureTap[] => [{ layer: b.blockEnds[b.blockEnds.length - 1]!, pooling: 'avg' }];

/** Writes model.json + weights.bin, as an export does. */
async function saveToDir(model: tfl.LayersModel, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      fs.writeFileSync(nodePath.join(dir, 'weights.bin'), Buffer.from(tf.io.CompositeArrayBuffer.join(artifacts.weightData!)));
      const json = { format: artifacts.format, generatedBy: artifacts.generatedBy, convertedBy: artifacts.convertedBy, modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }] };
      fs.writeFileSync(nodePath.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

/** The class of every layer in a saved layers model's topology, nested models' layers included. */
function layerClasses(topology: unknown, found = new Set<string>()): Set<string> {
  const layers = (topology as { config?: { layers?: unknown[] } } | null)?.config?.layers ?? [];
  for (const layer of layers as { class_name: string }[]) {
    found.add(layer.class_name);
    layerClasses(layer, found);
  }
  return found;
}

for (const shared of SHARED) {
  test(`${shared.id}: canonical features equal the original loader's on TrashNet images; BN folded, standard layers only`, { skip }, async () => {
    const original = await loadBackbone(shared.id, dirOf(shared.id));
    const b = await loadCanonicalBackbone(shared.id, dirOf(shared.id));
    try {
      assert.equal(b.blockEnds.length, shared.blocks);
      assert.deepEqual(b.model.outputs[0]!.shape, [null, 7, 7, shared.dims]);
      assert.deepEqual(b.model.inputs[0]!.shape, [null, SIZE, SIZE, 3]);
      const classes = new Set(b.model.layers.map((l) => l.getClassName()));
      for (const c of classes) assert.ok(STANDARD_LAYERS.has(c), `${c} is a standard layer`);
      assert.ok(classes.has('Rescaling') && !classes.has('BatchNormalization') && !classes.has('Activation') && !classes.has('ReLU'));
      for (const name of b.blockEnds) assert.doesNotThrow(() => b.model.getLayer(name));

      const expected = values(() => original.embed(pixels));
      const features = featureModel(b, lastTap(b));
      const got = values(() => features.predict(pixels) as tf.Tensor);
      const scale = maxAbs(expected);
      assert.ok(scale > 0.1, 'the features are not all near zero');
      assert.ok(maxDiff(got, expected) <= 1e-3 * scale, `max diff ${maxDiff(got, expected)} vs scale ${scale}`);

      // The canonical model's own output, pooled, is the same thing.
      const pooled = values(() => tf.mean(b.model.predict(pixels) as tf.Tensor, [1, 2]));
      assert.ok(maxDiff(pooled, got) <= 1e-5 * scale);

      const tensors = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) values(() => features.predict(pixels) as tf.Tensor);
      assert.equal(tf.memory().numTensors, tensors, 'no tensors left behind by predictions');
    } finally {
      original.dispose();
      b.dispose();
    }
  });

  test(`${shared.id}: splitTop lower → upper reproduces the full model; upper shares the backbone's layers`, { skip }, async () => {
    const tensorsBefore = tf.memory().numTensors;
    const b = await loadCanonicalBackbone(shared.id, dirOf(shared.id));
    try {
      const full = values(() => b.model.predict(pixels) as tf.Tensor);
      const scale = maxAbs(full);
      for (const top of [1, 2, shared.blocks]) {
        const { lower, upper, cutLayer, maxBlocks } = splitTop(b, top);
        assert.equal(maxBlocks, shared.blocks);
        assert.equal(cutLayer, top === maxBlocks ? b.model.layers.find((l) => l.getClassName() === 'Conv2D')!.name : b.blockEnds[maxBlocks - top - 1]);
        assert.deepEqual(lower.outputs[0]!.shape, upper.inputs[0]!.shape);
        const cached = tf.tidy(() => lower.predict(pixels) as tf.Tensor);
        const split = values(() => upper.predict(cached) as tf.Tensor);
        cached.dispose();
        assert.ok(maxDiff(split, full) <= 1e-5 * scale, `top ${top}: max diff ${maxDiff(split, full)}`);
        // Training upper trains the backbone: the same layer objects, so the same variables.
        const lastConv = b.model.layers[b.model.layers.length - 1]!;
        assert.equal(upper.getLayer(lastConv.name), lastConv);
        assert.ok(upper.trainableWeights.length > 0);
        const names = b.model.layers.map((l) => l.name);
        assert.deepEqual(upper.layers.slice(1).map((l) => l.name), names.slice(names.indexOf(cutLayer) + 1));
        assert.deepEqual(lower.layers.map((l) => l.name), names.slice(0, names.indexOf(cutLayer) + 1));
        upper.dispose();
        lower.dispose();
      }
      // Disposing derived models leaves the backbone whole.
      assert.ok(maxDiff(values(() => b.model.predict(pixels) as tf.Tensor), full) === 0);
      for (const bad of [0, shared.blocks + 1, 1.5]) {
        assert.throws(() => splitTop(b, bad), (err: unknown) => err instanceof CoreError && err.code === 'invalid_input' && err.message.includes(`1 to ${shared.blocks}`));
      }
    } finally {
      b.dispose();
    }
    assert.equal(tf.memory().numTensors, tensorsBefore, 'dispose() frees the backbone and its derived models');
  });
}

test('featureModel concatenates average- and max-pooled taps in the order given', { skip }, async () => {
  const b = await loadCanonicalBackbone('mobilenet_v1_0.25_224', dirOf('mobilenet_v1_0.25_224'));
  try {
    const taps: FeatureTap[] = [
      { layer: 'conv_pw_11', pooling: 'avg' },
      { layer: 'conv_pw_13', pooling: 'avg+max' },
    ];
    const model = featureModel(b, taps);
    assert.deepEqual(model.outputs[0]!.shape, [null, 128 + 256 + 256]);
    const got = values(() => model.predict(pixels) as tf.Tensor);
    const map = tf.tidy(() => b.model.predict(pixels) as tf.Tensor);
    const avg = values(() => tf.mean(map, [1, 2]));
    const max = values(() => tf.max(map, [1, 2]));
    map.dispose();
    const rows = IMAGES.length;
    const slice = (from: number, width: number): number[] => Array.from({ length: rows }, (_, r) => Array.from(got.subarray(r * 640 + from, r * 640 + from + width))).flat();
    assert.ok(maxDiff(slice(128, 256), avg) <= 1e-5 * maxAbs(avg));
    assert.ok(maxDiff(slice(384, 256), max) <= 1e-5 * maxAbs(max));
    const pw11 = values(() => tf.mean(tfl.model({ inputs: b.model.inputs, outputs: b.model.getLayer('conv_pw_11').output as tfl.SymbolicTensor }).predict(pixels) as tf.Tensor, [1, 2]));
    assert.ok(maxDiff(slice(0, 128), pw11) <= 1e-5 * maxAbs(pw11));
    assert.throws(() => featureModel(b, [{ layer: 'nope', pooling: 'avg' }]), (err: unknown) => err instanceof CoreError && err.code === 'invalid_input' && err.message.includes('conv_pw_13'));
    assert.throws(() => featureModel(b, []), CoreError);
  } finally {
    b.dispose();
  }
});

test('assembleClassifier: one plain layers model that a fresh process loads with plain tfjs and that predicts the same', { skip }, async () => {
  const expected: number[][] = [];
  const dirs: string[] = [];
  for (const [n, shared] of SHARED.entries()) {
    const b = await loadCanonicalBackbone(shared.id, dirOf(shared.id));
    const taps: FeatureTap[] = [{ layer: b.blockEnds[b.blockEnds.length - 2]!, pooling: 'avg' }, { layer: b.blockEnds[b.blockEnds.length - 1]!, pooling: 'avg+max' }];
    const width = featureModel(b, taps).outputs[0]!.shape[1] as number;
    const head = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [width], units: 16, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 + n }), name: 'hidden' }),
        tfl.layers.dropout({ rate: 0.2, name: 'head_dropout' }),
        tfl.layers.dense({ units: 6, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 7 + n }), name: 'probabilities' }),
      ],
    });
    const classifier = assembleClassifier(b, taps, head);
    const probs = values(() => classifier.predict(pixels) as tf.Tensor);
    assert.equal(probs.length, IMAGES.length * 6);
    for (let r = 0; r < IMAGES.length; r++) assert.ok(Math.abs(probs.subarray(r * 6, r * 6 + 6).reduce((s, v) => s + v, 0) - 1) < 1e-5);
    // The head applied to featureModel's output gives the same probabilities.
    const viaHead = values(() => head.predict(featureModel(b, taps).predict(pixels) as tf.Tensor) as tf.Tensor);
    assert.ok(maxDiff(viaHead, probs) <= 1e-6);

    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) values(() => classifier.predict(pixels) as tf.Tensor);
    assert.equal(tf.memory().numTensors, tensors, 'no tensors left behind by predictions');

    const dir = nodePath.join(scratch, shared.id);
    await saveToDir(classifier, dir);
    const saved = JSON.parse(fs.readFileSync(nodePath.join(dir, 'model.json'), 'utf8')) as { modelTopology: unknown };
    const classes = layerClasses((saved.modelTopology as { model_config?: unknown }).model_config ?? saved.modelTopology);
    for (const c of classes) assert.ok(STANDARD_LAYERS.has(c), `${shared.id}: the saved model uses only standard layers (found ${c})`);
    assert.ok(classes.has('Dense') && classes.has('Conv2D') && !classes.has('Sequential') && !classes.has('Model'));
    expected.push(Array.from(probs));
    dirs.push(dir);
    classifier.dispose();
    head.dispose();
    b.dispose();
  }
  fs.writeFileSync(nodePath.join(scratch, 'pixels.bin'), Buffer.from((await pixels.data()).buffer));

  // Only @tensorflow/tfjs packages, resolved from the repo root: no Seedbed code, no custom layer.
  const script = `
    import fs from 'node:fs';
    import path from 'node:path';
    import { createRequire } from 'node:module';
    import * as tf from '@tensorflow/tfjs-core';
    import * as tfl from '@tensorflow/tfjs-layers';
    import * as wasm from '@tensorflow/tfjs-backend-wasm';
    const require = createRequire(path.join(process.cwd(), 'index.js'));
    wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep);
    wasm.setThreadsCount(1);
    tf.env().set('PROD', true);
    await tf.setBackend('wasm');
    const [pixelsPath, ...dirs] = JSON.parse(process.env.CANONICAL_TEST_ARGS);
    const buf = fs.readFileSync(pixelsPath);
    const x = tf.tensor4d(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4), [${IMAGES.length}, ${SIZE}, ${SIZE}, 3]);
    const out = [];
    for (const dir of dirs) {
      const model = await tfl.loadLayersModel(tf.io.fromMemory(JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).modelTopology,
        JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).weightsManifest[0].weights, new Uint8Array(fs.readFileSync(path.join(dir, 'weights.bin'))).buffer));
      out.push(Array.from(model.predict(x).dataSync()));
    }
    process.stdout.write(JSON.stringify(out));
  `;
  const reloaded = await new Promise<number[][]>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO, env: { ...process.env, CANONICAL_TEST_ARGS: JSON.stringify([nodePath.join(scratch, 'pixels.bin'), ...dirs]) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(stdout) as number[][]) : reject(new Error(`the fresh process failed (${code}): ${stderr}`))));
  });
  assert.equal(reloaded.length, SHARED.length);
  for (const [i, shared] of SHARED.entries()) {
    assert.ok(maxDiff(reloaded[i]!, expected[i]!) <= 1e-4, `${shared.id}: reloaded probabilities differ by ${maxDiff(reloaded[i]!, expected[i]!)}`);
  }
});

test('assembleClassifier flattens a nested head and refuses one that does not fit', { skip }, async () => {
  const b = await loadCanonicalBackbone('mobilenet_v1_0.25_224', dirOf('mobilenet_v1_0.25_224'));
  try {
    // Teachable Machine nests Sequentials; the classifier gets their layers, not the models.
    const inner = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [256], units: 8, activation: 'relu', name: 'inner_dense' })] });
    const nested = tfl.sequential({ layers: [inner, tfl.layers.dense({ units: 3, activation: 'softmax', name: 'outer_dense' })] });
    const classifier = assembleClassifier(b, lastTap(b), nested);
    assert.deepEqual(classifier.layers.slice(-3).map((l) => l.name), ['conv_pw_13_gap', 'inner_dense', 'outer_dense']);
    assert.ok(!classifier.layers.some((l) => l instanceof tfl.LayersModel));
    const direct = values(() => nested.predict(featureModel(b, lastTap(b)).predict(pixels) as tf.Tensor) as tf.Tensor);
    assert.ok(maxDiff(values(() => classifier.predict(pixels) as tf.Tensor), direct) <= 1e-6);
    nested.dispose();

    const wide = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [100], units: 2, activation: 'softmax' })] });
    assert.throws(() => assembleClassifier(b, lastTap(b), wide), (err: unknown) => err instanceof CoreError && err.code === 'invalid_input' && err.message.includes('[null, 256]'));
    wide.dispose();
    const clashing = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [256], units: 2, activation: 'softmax', name: 'conv_pw_13' })] });
    assert.throws(() => assembleClassifier(b, lastTap(b), clashing), (err: unknown) => err instanceof CoreError && err.code === 'invalid_input' && err.message.includes('"conv_pw_13"'));
    clashing.dispose();
  } finally {
    b.dispose();
  }
});

/**
 * A MobileNetV2 graph model in TF-Slim naming (as TF-Hub's converter writes it: fused
 * conv + BiasAdd + Relu6, separate depthwise + BiasAdd + Relu6, AddV2 residuals, hub_input
 * Mul/Sub on [0,1] pixels), written from a canonical v2 backbone's weights. None is shared here,
 * so this is the v2 graph path's test fixture.
 */
async function writeV2GraphModel(b: CanonicalBackbone, dir: string): Promise<void> {
  const enc = (s: string): string => Buffer.from(s).toString('base64');
  const ints = (xs: number[]): { list: { i: string[] } } => ({ list: { i: xs.map(String) } });
  const nodes: Record<string, unknown>[] = [];
  const weights: tf.NamedTensorMap = {};
  const constant = (name: string, t: tf.Tensor): string => {
    weights[name] = t;
    nodes.push({ name, op: 'Const', attr: { dtype: { type: t.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' }, value: { tensor: { dtype: t.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: { dim: t.shape.map((size) => ({ size: String(size) })) } } } } });
    return name;
  };
  const P = 'module_apply_default/MobilenetV2';
  nodes.push({ name: 'images', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [-1, 224, 224, 3].map((size) => ({ size: String(size) })) } } } });
  nodes.push({ name: 'module_apply_default/hub_input/Mul', op: 'Mul', input: ['images', constant('module_apply_default/hub_input/Mul/y', tf.scalar(2))], attr: { T: { type: 'DT_FLOAT' } } });
  nodes.push({ name: 'module_apply_default/hub_input/Sub', op: 'Sub', input: ['module_apply_default/hub_input/Mul', constant('module_apply_default/hub_input/Sub/y', tf.scalar(1))], attr: { T: { type: 'DT_FLOAT' } } });
  // Keras names → TF-Slim scopes: Conv1 → Conv, expanded_conv_* → expanded_conv/*, block_N_* → expanded_conv_N/*, Conv_1 → Conv_1.
  const scope = (name: string): string =>
    name === 'Conv1' ? 'Conv' : name === 'Conv_1' ? 'Conv_1' : name.replace(/^expanded_conv_/, 'expanded_conv/').replace(/^block_(\d+)_/, 'expanded_conv_$1/');
  const outputs = new Map<string, string>([['rescaling', 'module_apply_default/hub_input/Sub']]);
  for (const layer of b.model.layers) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer' || cls === 'Rescaling') continue;
    const input = outputs.get((layer.inboundNodes[0]!.inboundLayers[0]!).name)!;
    const s = `${P}/${scope(layer.name)}`;
    const config = layer.getConfig() as { strides?: number[]; activation?: string };
    if (cls === 'Add') {
      const other = outputs.get(layer.inboundNodes[0]!.inboundLayers[1]!.name)!;
      nodes.push({ name: s.replace(/\/add$/, '') + '/add', op: 'AddV2', input: [input, other], attr: { T: { type: 'DT_FLOAT' } } });
      outputs.set(layer.name, s.replace(/\/add$/, '') + '/add');
      continue;
    }
    const [kernel, bias] = layer.getWeights();
    const strides = ints([1, config.strides![0]!, config.strides![1]!, 1]);
    const common = { T: { type: 'DT_FLOAT' }, strides, padding: { s: enc('SAME') }, data_format: { s: enc('NHWC') }, dilations: ints([1, 1, 1, 1]) };
    const relu6 = config.activation === 'relu6';
    if (cls === 'DepthwiseConv2D') {
      const k = constant(`module/MobilenetV2/${scope(layer.name)}/depthwise_weights`, kernel!.clone());
      nodes.push({ name: `${s}/depthwise`, op: 'DepthwiseConv2dNative', input: [input, k], attr: common });
      nodes.push({ name: `${s}/BatchNorm/FusedBatchNorm`, op: 'BiasAdd', input: [`${s}/depthwise`, constant(`${s}/depthwise_bn_offset`, bias!.clone())], attr: { T: { type: 'DT_FLOAT' }, data_format: { s: enc('NHWC') } } });
      nodes.push({ name: `${s}/Relu6`, op: 'Relu6', input: [`${s}/BatchNorm/FusedBatchNorm`], attr: { T: { type: 'DT_FLOAT' } } });
      outputs.set(layer.name, `${s}/Relu6`);
    } else {
      const name = relu6 ? `${s}/Relu6` : `${s}/BatchNorm/FusedBatchNorm`;
      const k = constant(`module/MobilenetV2/${scope(layer.name)}/weights`, kernel!.clone());
      const fused = relu6 ? [enc('BiasAdd'), enc('Relu6')] : [enc('BiasAdd')];
      nodes.push({ name, op: '_FusedConv2D', input: [input, k, constant(`${s}/Conv2D_bn_offset`, bias!.clone())], attr: { ...common, fused_ops: { list: { s: fused } }, num_args: { i: '1' }, epsilon: { f: 0 } } });
      outputs.set(layer.name, name);
    }
  }
  const last = outputs.get(b.model.layers[b.model.layers.length - 1]!.name)!;
  nodes.push({ name: `${P}/Logits/AvgPool`, op: 'Mean', input: [last, constant(`${P}/Logits/AvgPool/reduction_indices`, tf.tensor1d([1, 2], 'int32'))], attr: { T: { type: 'DT_FLOAT' }, Tidx: { type: 'DT_INT32' }, keep_dims: { b: true } } });
  const { data, specs } = await tf.io.encodeWeights(weights);
  tf.dispose(Object.values(weights));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(nodePath.join(dir, 'weights.bin'), Buffer.from(data));
  fs.writeFileSync(nodePath.join(dir, 'model.json'), JSON.stringify({ format: 'graph-model', generatedBy: 'seedbed test', convertedBy: null, modelTopology: { node: nodes, library: {}, versions: {} }, weightsManifest: [{ paths: ['weights.bin'], weights: specs }] }));
}

test('a MobileNetV2 graph model (TF-Slim naming, residual adds) reads into the same canonical model', { skip }, async () => {
  const id = 'mobilenet_v2_0.35_224';
  const fromLayers = await loadCanonicalBackbone(id, dirOf(id));
  const dir = nodePath.join(scratch, 'v2-graph');
  await writeV2GraphModel(fromLayers, dir);
  // The fixture is a real graph model: tfjs-converter runs it and gets the layers model's features.
  const graph = await loadBackbone(id, dir);
  const fromGraph = await loadCanonicalBackbone(id, dir);
  try {
    assert.equal(graph.format, 'graph');
    const reference = values(() => featureModel(fromLayers, lastTap(fromLayers)).predict(pixels) as tf.Tensor);
    const executed = values(() => graph.embed(pixels));
    const canonical = values(() => featureModel(fromGraph, lastTap(fromGraph)).predict(pixels) as tf.Tensor);
    const scale = maxAbs(reference);
    assert.ok(maxDiff(executed, reference) <= 1e-4 * scale, `converter vs layers: ${maxDiff(executed, reference)}`);
    assert.ok(maxDiff(canonical, executed) <= 1e-3 * scale, `canonical vs converter: ${maxDiff(canonical, executed)}`);
    assert.deepEqual(fromGraph.blockEnds, fromLayers.blockEnds);
    assert.deepEqual(fromGraph.model.layers.map((l) => l.name), fromLayers.model.layers.map((l) => l.name));
    assert.equal(fromGraph.version, 2);
  } finally {
    graph.dispose();
    fromGraph.dispose();
    fromLayers.dispose();
  }
});

test('unrecognised or mismatched models are refused with a CoreError naming the problem', { skip: skipWithoutV1 }, async () => {
  const tensorsBefore = tf.memory().numTensors;
  const source = dirOf('mobilenet_v1_0.25_224');
  const json = JSON.parse(fs.readFileSync(nodePath.join(source, 'model.json'), 'utf8')) as { modelTopology: { node: { name: string; op: string }[] } };
  const target = json.modelTopology.node.find((n) => n.name.endsWith('Conv2d_5_depthwise/depthwise'))!;
  target.op = 'MaxPool';
  const dir = nodePath.join(scratch, 'v1-maxpool');
  fs.mkdirSync(dir);
  fs.writeFileSync(nodePath.join(dir, 'model.json'), JSON.stringify(json));
  fs.copyFileSync(nodePath.join(source, 'group1-shard1of1.bin'), nodePath.join(dir, 'group1-shard1of1.bin'));
  await assert.rejects(
    loadCanonicalBackbone('mobilenet_v1_0.25_224', dir),
    (err: unknown) => err instanceof CoreError && err.code === 'unsupported' && err.message.includes(target.name) && err.message.includes('MaxPool') && err.message.includes(dir),
  );
  await assert.rejects(
    loadCanonicalBackbone('mobilenet_v2_0.35_224', source),
    (err: unknown) => err instanceof CoreError && err.code === 'unsupported' && /MobileNet v1, not mobilenet_v2_0\.35_224/.test(err.message),
  );
  await assert.rejects(
    loadCanonicalBackbone('mobilenet_v1_0.5_224', source),
    (err: unknown) => err instanceof CoreError && err.code === 'unsupported' && err.message.includes('7×7×256') && err.message.includes('7×7×512'),
  );
  await assert.rejects(loadCanonicalBackbone('mobilenet_v1_0.25_224', scratch), (err: unknown) => err instanceof CoreError && err.code === 'io_error');
  assert.equal(tf.memory().numTensors, tensorsBefore, 'a refused model leaves no tensors behind');
});
