/**
 * The WebGPU engine: TensorFlow.js's webgpu backend on the `webgpu` package (Dawn), which
 * reaches any desktop GPU through Vulkan (Linux, Windows), Metal (macOS) or Direct3D 12
 * (Windows). Finds an adapter, opens a device, registers the backend under 'webgpu', and
 * watches the device: a GPU that is lost or runs out of memory mid-run is reported by
 * gpuFailure(), which the training loop checks, instead of leaving silent garbage behind.
 *
 * A software adapter (SwiftShader, Dawn's "fallback") is slower than wasm, so it is used only
 * when asked for by name (SEEDBED_BACKEND=webgpu); tests use it to run the webgpu kernels
 * where there is no GPU.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url ?? `file://${__filename}`);

export interface GpuAdapterSummary {
  /** "NVIDIA H100 80GB HBM3", or vendor and architecture when the driver gives no description. */
  name: string;
  vendor: string;
  architecture: string;
  /** A software adapter (SwiftShader): correct but slower than the CPU backends. */
  fallback: boolean;
  /** The largest buffer one kernel may bind, in bytes: it caps the batch size. */
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

export type AdapterProbe = { ok: true; adapter: GPUAdapter; summary: GpuAdapterSummary } | { ok: false; reason: string; fix: string };

interface WatchedDevice {
  device: GPUDevice;
  summary: GpuAdapterSummary;
  failure: string | null;
}

let watched: WatchedDevice | null = null;

/** The adapter the webgpu backend runs on in this thread, once it is active. */
export function activeGpu(): GpuAdapterSummary | null {
  return watched?.summary ?? null;
}

/** Why the GPU of this thread can no longer be trusted (device lost, out of memory), or null. */
export function gpuFailure(): string | null {
  return watched?.failure ?? null;
}

/** Throws a clear error when the GPU failed since the last check. For training loops. */
export function checkGpu(what: string): void {
  const failure = gpuFailure();
  if (failure === null || watched === null) return;
  throw new GpuFailedError(
    `The GPU (${watched.summary.name}) failed while ${what}: ${failure}. Nothing from this run was saved and the project is unchanged. ` +
      'Run it again: Seedbed will use the GPU if it has recovered, or the CPU otherwise (set SEEDBED_BACKEND=wasm to choose the CPU now).',
  );
}

export class GpuFailedError extends Error {
  override name = 'GpuFailedError';
}

/** On Linux, Dawn needs the Vulkan loader; without it, it only prints a warning and finds nothing. */
function vulkanLoaderMissing(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    // A plain shared library is not a Node module: loading it fails after dlopen succeeded
    // ("did not self-register"); only a missing library fails with "cannot open".
    process.dlopen({ exports: {} } as NodeJS.Module, 'libvulkan.so.1');
    return false;
  } catch (err) {
    return /cannot open shared object|no such file/i.test((err as Error).message);
  }
}

let gpu: GPU | null = null;

/** Loads Dawn and installs the WebGPU globals (GPUBufferUsage and friends) tfjs's backend uses. */
function dawn(): GPU {
  if (gpu) return gpu;
  const webgpu = require('webgpu') as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  for (const [name, value] of Object.entries(webgpu.globals)) {
    if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  gpu = webgpu.create([]);
  // tfjs's backend checks navigator.gpu before it starts (Node 20 has no navigator; Node 21+ has one without gpu).
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!nav) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  else if (!nav.gpu) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  return gpu;
}

function summarise(adapter: GPUAdapter): GpuAdapterSummary {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const described = info.description?.trim();
  const name = described || [info.vendor, info.architecture, info.device].filter(Boolean).join(' ') || 'unnamed GPU';
  return {
    name,
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    fallback: info.isFallbackAdapter === true || (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
}

const DRIVER_FIX: Record<string, string> = {
  linux: "install your GPU's Vulkan driver (NVIDIA's proprietary driver, or Mesa's radv/anv: `sudo apt install mesa-vulkan-drivers`) and check with `vulkaninfo --summary`",
  darwin: 'WebGPU uses Metal, which every Mac since 2012 has; update macOS',
  win32: 'update your graphics driver (WebGPU uses Direct3D 12)',
};

/** Looks for a WebGPU adapter without opening a device. Cheap (milliseconds); for the runtime and `seedbed doctor`. */
export async function probeAdapter(): Promise<AdapterProbe> {
  if (vulkanLoaderMissing()) {
    return { ok: false, reason: 'the Vulkan loader (libvulkan.so.1) is not installed', fix: 'install it (`sudo apt install libvulkan1`, or your distribution\'s vulkan-loader), then ' + DRIVER_FIX.linux };
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await dawn().requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    return { ok: false, reason: `the webgpu package could not start (${(err as Error).message.split('\n')[0]})`, fix: 'reinstall Seedbed (`npm ci`); the package ships Dawn for Linux, macOS and Windows on x64 and arm64' };
  }
  if (!adapter) return { ok: false, reason: 'no GPU adapter was found', fix: DRIVER_FIX[process.platform] ?? 'update your graphics driver' };
  return { ok: true, adapter, summary: summarise(adapter) };
}

/**
 * Opens a device on the adapter and registers tfjs's webgpu backend on it. Returns why not,
 * or null once tf.setBackend('webgpu') succeeded. With allowFallback false a software adapter
 * is refused (it would be slower than wasm).
 */
export async function startWebGpu(allowFallback: boolean): Promise<string | null> {
  const probe = await probeAdapter();
  if (!probe.ok) return `webgpu is not usable here: ${probe.reason}`;
  if (probe.summary.fallback && !allowFallback) return `webgpu found only a software adapter (${probe.summary.name}), slower than the CPU backends`;
  const { WebGPUBackend } = (await import('@tensorflow/tfjs-backend-webgpu')) as typeof import('@tensorflow/tfjs-backend-webgpu');
  const { adapter, summary } = probe;
  const limits = adapter.limits;
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
      // tfjs's own factory asks for these adapter maxima: the defaults (128 MiB bindings) cap the batch far too low.
      requiredLimits: {
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
        maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      },
    });
  } catch (err) {
    return `webgpu found ${summary.name} but could not open it (${(err as Error).message.split('\n')[0]})`;
  }
  const entry: WatchedDevice = { device, summary, failure: null };
  void device.lost.then((info) => {
    // destroy() on purpose (backend disposal) is not a failure.
    if (info.reason !== 'destroyed') entry.failure ??= `the device was lost (${info.message || info.reason})`;
  });
  device.addEventListener('uncapturederror', (event) => {
    const error = (event as GPUUncapturedErrorEvent).error;
    const kind = error.constructor?.name === 'GPUOutOfMemoryError' || /out of memory/i.test(error.message) ? 'it ran out of memory' : 'it reported an error';
    entry.failure ??= `${kind} (${error.message.split('\n')[0]})`;
  });
  const adapterInfo = adapter.info;
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  // tfjs swallows a factory's exception (its warning is silenced in production): keep it to report.
  let startError: unknown = null;
  tf.registerBackend(
    'webgpu',
    () => {
      try {
        return new WebGPUBackend(device, adapterInfo as never);
      } catch (err) {
        startError = err;
        throw err;
      }
    },
    3,
  );
  // tfjs submits its command buffer every 15 dispatches; each submit costs about a millisecond of
  // this thread. 64 halved the JavaScript time of a fine-tuning step (243 → 124 ms for 172
  // programs, SwiftShader on 2 cores) and still lets the GPU start well before a step is queued.
  tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 64);
  if (!(await tf.setBackend('webgpu'))) {
    device.destroy();
    const why = startError instanceof Error ? ` (${startError.message.split('\n')[0]})` : '';
    return `webgpu found ${summary.name} but its backend did not start${why}`;
  }
  watched = entry;
  return null;
}
