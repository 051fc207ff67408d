import type { RuntimeInfo } from '../../../shared/contract/index.ts';
import { api } from '../api/index.ts';
import { plural } from '../lib/format.ts';

/** Which TensorFlow.js backend ran the last ML work, for the status bar. */
class RuntimeState {
  info = $state.raw<RuntimeInfo | null>(null);

  /** "TensorFlow.js: wasm (SIMD) · 2 workers", or that nothing has run yet. */
  text = $derived.by(() => {
    const info = this.info;
    if (!info) return 'TensorFlow.js: …';
    if (!info.backend) return 'TensorFlow.js: not started yet';
    return `TensorFlow.js: ${info.backend} · ${plural(info.workers, 'worker')}`;
  });

  async refresh(): Promise<void> {
    try {
      this.info = await api.call('ml.runtime');
    } catch {
      // The status bar is a hint; a failed refresh keeps the last answer rather than raise an error.
    }
  }
}

export const runtime = new RuntimeState();
