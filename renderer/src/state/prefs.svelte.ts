const THUMB_KEY = 'seedbed.thumbSize';
export const THUMB_MIN = 72;
export const THUMB_MAX = 280;

function readNumber(key: string, fallback: number, min: number, max: number): number {
  const raw = Number(localStorage.getItem(key));
  return Number.isFinite(raw) && raw >= min && raw <= max ? raw : fallback;
}

/** Choices that belong to this machine's user, not to a project. */
class Prefs {
  #thumbSize = $state(readNumber(THUMB_KEY, 148, THUMB_MIN, THUMB_MAX));

  get thumbSize(): number {
    return this.#thumbSize;
  }

  set thumbSize(value: number) {
    this.#thumbSize = Math.round(Math.min(THUMB_MAX, Math.max(THUMB_MIN, value)));
    localStorage.setItem(THUMB_KEY, String(this.#thumbSize));
  }

  /** The folder the file chooser showed last for a purpose. */
  lastFolder(purpose: string): string | undefined {
    return localStorage.getItem(`seedbed.folder.${purpose}`) ?? undefined;
  }

  rememberFolder(purpose: string, path: string): void {
    localStorage.setItem(`seedbed.folder.${purpose}`, path);
  }
}

export const prefs = new Prefs();
