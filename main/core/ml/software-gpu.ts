/**
 * A software WebGPU adapter for tests and benchmarks where there is no GPU: Debian's chromium
 * package ships SwiftShader (a CPU implementation of Vulkan) and a Vulkan loader, which Dawn
 * accepts. The variables must be in a process's environment when it starts (the dynamic
 * loader reads LD_LIBRARY_PATH once), so callers start a child process with them.
 * Never used by the studio itself: a software adapter is slower than wasm.
 */
import fs from 'node:fs';
import nodePath from 'node:path';

const CANDIDATES = ['/usr/lib/chromium', '/usr/lib64/chromium', '/usr/lib/chromium-browser'];

/** Environment variables that make Dawn find SwiftShader, or null where it is not installed. */
export function softwareGpuEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> | null {
  if (process.platform !== 'linux') return null;
  for (const dir of CANDIDATES) {
    const icd = nodePath.join(dir, 'vk_swiftshader_icd.json');
    if (!fs.existsSync(icd) || !fs.existsSync(nodePath.join(dir, 'libvulkan.so.1'))) continue;
    return { LD_LIBRARY_PATH: env.LD_LIBRARY_PATH ? `${dir}:${env.LD_LIBRARY_PATH}` : dir, VK_ICD_FILENAMES: icd };
  }
  return null;
}

/** Whether this process was started with the software adapter's environment. */
export function runningOnSoftwareGpu(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.VK_ICD_FILENAMES?.includes('swiftshader'));
}
