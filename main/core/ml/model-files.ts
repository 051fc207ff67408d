/** Saving and loading TF.js layers models as model.json + weights.bin in a folder, with fs. */
import fs from 'node:fs';
import nodePath from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fileHandler } from './backbones.ts';

export async function saveLayersModel(model: tfl.LayersModel, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = artifacts.weightData ? Buffer.from(tf.io.concatenateArrayBuffers([artifacts.weightData].flat())) : Buffer.alloc(0);
      const json = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
        convertedBy: 'Seedbed',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      // Written beside, then renamed: a crash mid-write never leaves a model.json without its weights.
      fs.writeFileSync(nodePath.join(dir, 'weights.bin'), weights);
      fs.writeFileSync(nodePath.join(dir, 'model.json.tmp'), JSON.stringify(json));
      fs.renameSync(nodePath.join(dir, 'model.json.tmp'), nodePath.join(dir, 'model.json'));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    }),
  );
}

export function loadLayersModelFrom(dir: string): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(fileHandler(nodePath.join(dir, 'model.json')));
}
