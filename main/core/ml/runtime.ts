/**
 * THE one place a TensorFlow.js backend is chosen. Runs inside each worker thread that does
 * tensor work (every worker gets its own wasm instance, so every core works).
 * Order: tfjs-node-gpu → webgpu (Dawn: Vulkan, Metal or Direct3D 12; a real GPU adapter only)
 * → tfjs-node → wasm (SIMD) → cpu. `SEEDBED_BACKEND` forces one (webgpu then also accepts a
 * software adapter); an unknown value is refused with the valid names.
 */
import { createRequire } from 'node:module';
import nodePath from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CoreError } from '../errors.ts';
import { registerGradientKernels } from './gradient-kernels.ts';
import { activeGpu, startWebGpu } from './webgpu.ts';

export const BACKENDS = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendChoice {
  /** tf.getBackend() after the choice: 'tensorflow' for both native packages, else 'wasm' / 'cpu'. */
  backend: string;
  /** What was chosen and why, for logs, the status bar and CLI summaries. */
  detail: string;
}

const require = createRequire(import.meta.url ?? `file://${__filename}`);

async function tryNative(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<string | null> {
  try {
    // Optional dependencies: absent (or without their native library) on most machines.
    await import(pkg);
  } catch (err) {
    return `${pkg} is not usable here (${(err as Error).message.split('\n')[0]})`;
  }
  return (await tf.setBackend('tensorflow')) ? null : `${pkg} loaded but its backend did not start`;
}

async function tryWebGpu(forced: boolean): Promise<string | null> {
  try {
    const failed = await startWebGpu(forced);
    if (failed === null) registerGradientKernels('webgpu');
    return failed;
  } catch (err) {
    return `webgpu is not usable here (${(err as Error).message.split('\n')[0]})`;
  }
}

let wasmRegistered = false;
async function tryWasm(): Promise<string | null> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (!wasmRegistered) {
      // The .wasm files sit in the package's dist folder; point the loader there, not at a CDN.
      const distDir = nodePath.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
      wasm.setWasmPaths(distDir + nodePath.sep);
      // One single-threaded instance per worker thread; parallelism comes from the worker pool.
      wasm.setThreadsCount?.(1);
      wasmRegistered = true;
    }
    if (!(await tf.setBackend('wasm'))) return 'the wasm backend did not start';
    registerGradientKernels('wasm');
    return null;
  } catch (err) {
    return `wasm is not usable here (${(err as Error).message})`;
  }
}

async function tryCpu(): Promise<string | null> {
  await import('@tensorflow/tfjs-backend-cpu');
  return (await tf.setBackend('cpu')) ? null : 'the cpu backend did not start';
}

const attempts: Record<BackendName, (forced: boolean) => Promise<string | null>> = {
  'tensorflow-gpu': () => tryNative('@tensorflow/tfjs-node-gpu'),
  webgpu: tryWebGpu,
  tensorflow: () => tryNative('@tensorflow/tfjs-node'),
  wasm: tryWasm,
  cpu: tryCpu,
};

let chosen: Promise<BackendChoice> | null = null;

/** Chooses (once per thread) and activates the backend. */
export function chooseBackend(env: NodeJS.ProcessEnv = process.env): Promise<BackendChoice> {
  chosen ??= activateBackend(env).catch((err: unknown) => {
    chosen = null;
    throw err;
  });
  return chosen;
}

/** Chooses and activates a backend now, without remembering the choice (chooseBackend does). */
export async function activateBackend(env: NodeJS.ProcessEnv = process.env): Promise<BackendChoice> {
  const forced = env.SEEDBED_BACKEND?.trim() || undefined;
  // PROD silences tfjs's console banners ("install our node backend"), which would land in CLI output.
  tf.env().set('PROD', true);
  if (forced !== undefined) {
    if (!(BACKENDS as readonly string[]).includes(forced)) {
      throw new CoreError(
        'invalid_input',
        `SEEDBED_BACKEND is "${forced}", which is not a backend Seedbed knows. Use one of: ${BACKENDS.join(', ')} (or leave it unset to choose automatically).`,
      );
    }
    const failed = await attempts[forced as BackendName](true);
    if (failed) throw new CoreError('unsupported', `SEEDBED_BACKEND asks for ${forced}, but ${failed}. Unset it to choose automatically.`);
    await tf.ready();
    return { backend: tf.getBackend(), detail: `${await describe(forced as BackendName)} (forced by SEEDBED_BACKEND)` };
  }
  const skipped: string[] = [];
  for (const name of BACKENDS) {
    const failed = await attempts[name](false);
    if (failed === null) {
      await tf.ready();
      const label = await describe(name);
      return { backend: tf.getBackend(), detail: skipped.length ? `${label}; skipped: ${skipped.join('; ')}` : label };
    }
    skipped.push(failed);
  }
  throw new CoreError('unsupported', `No TensorFlow.js backend could start: ${skipped.join('; ')}.`);
}

/** The backend's name, with the GPU's name for webgpu, and for wasm whether SIMD is on (without it wasm is several times slower). */
async function describe(name: BackendName): Promise<string> {
  if (name === 'webgpu') {
    const gpu = activeGpu();
    return gpu ? `webgpu (${gpu.name}${gpu.fallback ? ', software' : ''})` : 'webgpu';
  }
  if (name !== 'wasm') return name;
  return (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) ? 'wasm (SIMD)' : 'wasm (no SIMD: slow)';
}
