/**
 * Downloading a backbone from its official URL into the app's model cache, only when the user
 * asks. Files land in a temporary folder, are checked (model.json parses, every weight shard
 * is there and their total size is what the weights manifest declares), and only then move
 * into the cache, so a cut connection never leaves a half model that looks whole.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import nodePath from 'node:path';
import type { JobInfo } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { backboneSpec } from './backbones.ts';
import { modelCacheDir } from './models.ts';

/** The graph models @tensorflow-models/mobilenet loads (TF-Hub, fetched with ?tfjs-format=file). */
export function officialUrl(id: string): string | null {
  const spec = backboneSpec(id);
  const alpha = String(Math.round(spec.alpha * 100)).padStart(3, '0');
  if (spec.version === 1) return `https://tfhub.dev/google/imagenet/mobilenet_v1_${alpha}_224/classification/1`;
  if (spec.alpha >= 0.5) return `https://tfhub.dev/google/imagenet/mobilenet_v2_${alpha}_224/classification/2`;
  return null;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, string: 0 };

/** Bytes the weights manifest says its shards hold together. */
export function expectedWeightBytes(manifest: { weights: { shape: number[]; dtype: string; quantization?: { dtype: string } }[] }[]): number {
  let total = 0;
  for (const group of manifest) {
    for (const w of group.weights) {
      const size = w.shape.reduce((a, b) => a * b, 1);
      total += size * (DTYPE_BYTES[w.quantization?.dtype ?? w.dtype] ?? 4);
    }
  }
  return total;
}

async function fetchBytes(url: string, signal: AbortSignal): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: 'follow' });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new CoreError('io_error', `Seedbed could not download ${url}: ${(err as Error).message}. Check the internet connection, or choose a folder that holds the model.`);
  }
  if (!response.ok) throw new CoreError('io_error', `The download of ${url} failed: the server answered ${response.status} ${response.statusText}.`);
  return Buffer.from(await response.arrayBuffer());
}

/**
 * Downloads `id` into `cacheDir/<id>/`. `baseUrl` overrides the official address (a mirror the
 * user trusts, or a local server in tests); `?tfjs-format=file` is added for TF-Hub only.
 */
export async function downloadBackbone(
  id: string,
  cacheDir: string,
  options: { baseUrl?: string; signal: AbortSignal; onProgress?: (done: number, total: number) => void },
): Promise<{ dir: string; files: string[]; bytes: number }> {
  const base = options.baseUrl ?? officialUrl(id);
  if (!base) throw new CoreError('unsupported', `${id} has no official download. Choose a folder that holds ${id}/model.json.`);
  const suffix = base.includes('tfhub.dev') ? '?tfjs-format=file' : '';
  const at = (file: string) => `${base.replace(/\/$/, '')}/${file}${suffix}`;
  const finalDir = nodePath.join(cacheDir, id);
  const tmpDir = nodePath.join(cacheDir, `.${id}.${randomUUID()}.partial`);
  fs.mkdirSync(tmpDir, { recursive: true });
  try {
    const jsonBytes = await fetchBytes(at('model.json'), options.signal);
    let json: { weightsManifest?: { paths: string[]; weights: { shape: number[]; dtype: string; quantization?: { dtype: string } }[] }[] };
    try {
      json = JSON.parse(jsonBytes.toString('utf8'));
    } catch {
      throw new CoreError('io_error', `The download of ${at('model.json')} is not a model description (not JSON).`);
    }
    const manifest = json.weightsManifest ?? [];
    const shards = manifest.flatMap((g) => g.paths);
    if (!shards.length) throw new CoreError('io_error', `The model at ${base} lists no weight files.`);
    for (const p of shards) {
      if (p.includes('..') || nodePath.isAbsolute(p)) throw new CoreError('io_error', `The model at ${base} names a weight file outside its folder (${p}).`);
    }
    fs.writeFileSync(nodePath.join(tmpDir, 'model.json'), jsonBytes);
    const hashes: Record<string, string> = { 'model.json': createHash('sha256').update(jsonBytes).digest('hex') };
    let bytes = 0;
    options.onProgress?.(0, shards.length);
    for (const [i, p] of shards.entries()) {
      const data = await fetchBytes(at(p), options.signal);
      fs.mkdirSync(nodePath.dirname(nodePath.join(tmpDir, p)), { recursive: true });
      fs.writeFileSync(nodePath.join(tmpDir, p), data);
      hashes[p] = createHash('sha256').update(data).digest('hex');
      bytes += data.byteLength;
      options.onProgress?.(i + 1, shards.length);
    }
    const expected = expectedWeightBytes(manifest);
    if (bytes !== expected) {
      throw new CoreError('io_error', `The download of ${id} is damaged: its weight files hold ${bytes} bytes, but its model.json declares ${expected}. Try again.`);
    }
    fs.writeFileSync(nodePath.join(tmpDir, 'download.json'), JSON.stringify({ id, from: base, at: new Date().toISOString(), sha256: hashes }, null, 2));
    fs.rmSync(finalDir, { recursive: true, force: true });
    fs.renameSync(tmpDir, finalDir);
    return { dir: finalDir, files: ['model.json', ...shards], bytes };
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}

export function startDownload(ctx: CoreContext, id: string): JobInfo {
  backboneSpec(id);
  if (!officialUrl(id)) throw new CoreError('unsupported', `${id} has no official download. Choose a folder that holds ${id}/model.json.`);
  return ctx.jobs.start({ kind: 'download', title: `Download ${id}`, params: { id } }, (job) =>
    downloadBackbone(id, modelCacheDir(ctx), { signal: job.signal, onProgress: (d, t) => job.progress(d, t) }),
  );
}
