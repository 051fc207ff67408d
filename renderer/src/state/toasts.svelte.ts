import { errorMessage } from '../api/index.ts';

export type ToastKind = 'error' | 'info' | 'success';

export interface ToastAction {
  label: string;
  /** A fuller name for screen readers, and so it is not confused with the toolbar's own buttons. */
  ariaLabel?: string;
  run: () => void;
}

export interface Toast {
  id: number;
  kind: ToastKind;
  message: string;
  action: ToastAction | null;
}

interface ShowOptions {
  action?: ToastAction;
  /** Milliseconds before it goes; 0 keeps it until dismissed. */
  timeout?: number;
}

/** The one place errors and short notices are shown, in words. */
class Toasts {
  items = $state.raw<Toast[]>([]);
  #nextId = 1;
  #timers = new Map<number, ReturnType<typeof setTimeout>>();

  show(kind: ToastKind, message: string, options: ShowOptions = {}): number {
    // The same error twice in a row (e.g. a failing refresh) is shown once.
    const last = this.items.at(-1);
    if (last && last.kind === kind && last.message === message) {
      this.#arm(last.id, kind, options.timeout);
      return last.id;
    }
    const id = this.#nextId++;
    // One notice at a time: a new one (the undo of a change, say) replaces the last.
    // Errors stay until read or timed out, so none is pushed away unseen.
    const kept = kind === 'error' ? this.items : this.items.filter((t) => t.kind === 'error' || t.action?.label === 'View report');
    for (const t of this.items) if (!kept.includes(t)) clearTimeout(this.#timers.get(t.id));
    this.items = [...kept, { id, kind, message, action: options.action ?? null }].slice(-4);
    this.#arm(id, kind, options.timeout);
    return id;
  }

  info(message: string, options?: ShowOptions): number {
    return this.show('info', message, options);
  }

  success(message: string, options?: ShowOptions): number {
    return this.show('success', message, options);
  }

  error(err: unknown, options?: ShowOptions): number {
    return this.show('error', errorMessage(err), options);
  }

  dismiss(id: number): void {
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
    this.items = this.items.filter((t) => t.id !== id);
  }

  #arm(id: number, kind: ToastKind, timeout?: number): void {
    clearTimeout(this.#timers.get(id));
    const ms = timeout ?? (kind === 'error' ? 10_000 : 4_000);
    if (ms > 0) this.#timers.set(id, setTimeout(() => this.dismiss(id), ms));
  }
}

export const toasts = new Toasts();

/** Runs an action and shows its failure as a toast; resolves undefined when it failed. */
export async function attempt<T>(action: () => Promise<T>): Promise<T | undefined> {
  try {
    return await action();
  } catch (err) {
    toasts.error(err);
    return undefined;
  }
}
