/** What the last ML work in this process ran on, for the status bar and `ml.runtime`. */
import type { RuntimeInfo } from '../../../shared/contract/index.ts';

let last: { detail: string; workers: number } | null = null;

export function noteRuntime(detail: string, workers: number): void {
  last = { detail, workers };
}

/** The backend's short name: "wasm (SIMD)" out of "wasm (SIMD); skipped: …". */
export function backendLabel(detail: string): string {
  return detail.split(';')[0]!.trim();
}

export function runtimeInfo(defaultWorkers: number): RuntimeInfo {
  return last
    ? { backend: backendLabel(last.detail), workers: last.workers, detail: last.detail }
    : { backend: null, workers: defaultWorkers, detail: null };
}
