/**
 * Where backbone weights come from on this machine (a folder the user chose, the app's model
 * cache, SEEDBED_MODELS_DIR), which backbone is the default, and the feature key under which
 * a backbone's embeddings are cached.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { BackboneInfo } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { BACKBONES, backboneSpec, locateBackbone, resolveBackboneDir, type BackboneSpec } from './backbones.ts';
import { officialUrl } from './download.ts';

/** ImageNet top-1 accuracy of each backbone as Google published it: the quality ranking for the default. */
const IMAGENET_TOP1: Record<string, number> = {
  'mobilenet_v1_0.25_224': 49.8,
  'mobilenet_v1_0.5_224': 63.3,
  'mobilenet_v1_0.75_224': 68.4,
  'mobilenet_v1_1.0_224': 70.9,
  'mobilenet_v2_0.35_224': 60.3,
  'mobilenet_v2_0.5_224': 65.4,
  'mobilenet_v2_0.75_224': 69.8,
  'mobilenet_v2_1.0_224': 71.8,
};

/** Bumped when the pooled layers of a backbone's embedding change: old vectors are then not reused. */
export const FEATURE_VERSION = 'f1';

/** The embeddings table's key for a backbone's vectors. */
export function featureKey(backboneId: string): string {
  return `${backboneId}#${FEATURE_VERSION}`;
}

interface Settings {
  modelsFolder?: string | null;
}

function settingsFile(ctx: CoreContext): string {
  return nodePath.join(ctx.options.stateDir, 'settings.json');
}

export function readSettings(ctx: CoreContext): Settings {
  try {
    return JSON.parse(fs.readFileSync(settingsFile(ctx), 'utf8')) as Settings;
  } catch {
    return {};
  }
}

export function writeSettings(ctx: CoreContext, patch: Settings): void {
  const next = { ...readSettings(ctx), ...patch };
  fs.mkdirSync(ctx.options.stateDir, { recursive: true });
  fs.writeFileSync(settingsFile(ctx), JSON.stringify(next, null, 2));
}

/** The app's model cache: downloads land here. */
export function modelCacheDir(ctx: CoreContext): string {
  return nodePath.join(ctx.options.stateDir, 'models');
}

function sources(ctx: CoreContext) {
  return { userDir: readSettings(ctx).modelsFolder ?? null, cacheDir: modelCacheDir(ctx), env: process.env };
}


function note(spec: BackboneSpec): string {
  const top1 = IMAGENET_TOP1[spec.id];
  const speed = spec.version === 1 ? (spec.alpha <= 0.25 ? 'fastest' : spec.alpha <= 0.5 ? 'fast' : spec.alpha <= 0.75 ? 'medium' : 'slowest') : spec.alpha <= 0.5 ? 'fast' : 'medium';
  return `MobileNet v${spec.version}, width ${spec.alpha}: ${top1 ? `${top1}% on ImageNet` : 'ImageNet-pretrained'}, ${speed}.`;
}

/** The best backbone on this machine (highest ImageNet accuracy), or null when none is. */
export function defaultBackboneId(ctx: CoreContext): string | null {
  const available = BACKBONES.filter((b) => resolveBackboneDir(b.id, sources(ctx)) !== null);
  available.sort((a, b) => (IMAGENET_TOP1[b.id] ?? 0) - (IMAGENET_TOP1[a.id] ?? 0));
  return available[0]?.id ?? null;
}

export function chooseDefaultBackbone(ctx: CoreContext): string {
  const id = defaultBackboneId(ctx);
  if (!id) {
    throw new CoreError(
      'not_found',
      'No pretrained backbone is on this machine. Choose a folder that holds one (for example mobilenet_v1_0.75_224/model.json), set SEEDBED_MODELS_DIR, or download one.',
    );
  }
  return id;
}

export function modelDirFor(ctx: CoreContext, id: string): string {
  backboneSpec(id);
  const dir = resolveBackboneDir(id, sources(ctx));
  if (!dir) {
    throw new CoreError(
      'not_found',
      `The weights of ${id} are not on this machine. Choose a folder that holds ${id}/model.json, set SEEDBED_MODELS_DIR, or download it.`,
    );
  }
  return dir;
}

export function backboneInfos(ctx: CoreContext): BackboneInfo[] {
  const def = defaultBackboneId(ctx);
  return BACKBONES.map((spec) => {
    const found = locateBackbone(spec.id, sources(ctx));
    return {
      id: spec.id,
      version: spec.version,
      alpha: spec.alpha,
      dims: spec.dims,
      source: found?.source ?? null,
      dir: found?.dir ?? null,
      isDefault: spec.id === def,
      note: note(spec),
      downloadable: officialUrl(spec.id) !== null,
    };
  });
}

export function setModelsFolder(ctx: CoreContext, folder: string | null): BackboneInfo[] {
  if (folder !== null) {
    const resolved = nodePath.resolve(folder);
    if (!fs.existsSync(resolved) || !fs.statSync(resolved).isDirectory()) throw new CoreError('not_found', `There is no folder at ${resolved}.`);
    if (!BACKBONES.some((b) => resolveBackboneDir(b.id, { userDir: resolved, env: {} }))) {
      throw new CoreError(
        'invalid_input',
        `${resolved} holds no backbone Seedbed knows: expected a folder such as mobilenet_v1_0.75_224 with a model.json inside, or a model.json itself in a folder named after the backbone.`,
      );
    }
    writeSettings(ctx, { modelsFolder: resolved });
  } else {
    writeSettings(ctx, { modelsFolder: null });
  }
  return backboneInfos(ctx);
}
