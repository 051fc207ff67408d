import type {
  EventName,
  Events,
  MethodName,
  ParamsOf,
  ResultOf,
} from '../../../shared/contract/index.ts';
import { ApiError } from './errors.ts';
import { IpcTransport } from './ipc-transport.ts';
import type { ConnectionStatus, MediaKind, Transport } from './transport.ts';
import { WsTransport } from './ws-transport.ts';

export { ApiError, errorMessage } from './errors.ts';
export type { ConnectionStatus, MediaKind } from './transport.ts';

const TOKEN_KEY = 'seedbed.token';

/**
 * The launch token the browser host put in the URL it printed. It is kept for this tab's
 * session (the server also set a cookie) and taken out of the address bar so it does not
 * end up in bookmarks or screenshots.
 */
function takeLaunchToken(): string | null {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    window.history.replaceState(window.history.state, '', url);
    return fromUrl;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function pickTransport(): Transport {
  if (window.seedbed) return new IpcTransport(window.seedbed);
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  return new WsTransport(`${scheme}://${window.location.host}/ws`, takeLaunchToken());
}

/** Params may be left out for methods that take none. */
type CallArgs<M extends MethodName> = {} extends ParamsOf<M> ? [params?: ParamsOf<M>] : [params: ParamsOf<M>];

/** The renderer's only way to the core: typed calls, events, media URLs, file drops. */
class Api {
  readonly #transport: Transport = pickTransport();

  /** Calls a contract method; resolves with its value or throws an ApiError. */
  async call<M extends MethodName>(method: M, ...args: CallArgs<M>): Promise<ResultOf<M>> {
    const result = await this.#transport.invoke(method, args[0] ?? {});
    if (!result.ok) throw new ApiError(result.error);
    return result.value as ResultOf<M>;
  }

  /** Listens to one core event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (data: Events[E]) => void): () => void {
    return this.#transport.subscribe((message) => {
      if (message.event === event) listener(message.data as Events[E]);
    });
  }

  /**
   * The address of an image's thumbnail or preview. `version` (the content hash) makes the
   * address unique to the content: ids restart in every project, so without it a cache
   * could show another project's picture for the same id. Hosts ignore the query.
   */
  mediaUrl(kind: MediaKind, imageId: number, version?: string): string {
    const url = this.#transport.mediaUrl(kind, imageId);
    return version ? `${url}?v=${encodeURIComponent(version.slice(0, 16))}` : url;
  }

  get connection(): ConnectionStatus {
    return this.#transport.status;
  }

  /** `reconnected` is true when a dropped link came back (events may have been missed). */
  onConnection(listener: (status: ConnectionStatus, reconnected: boolean) => void): () => void {
    return this.#transport.onStatus(listener);
  }

  get isElectron(): boolean {
    return this.#transport instanceof IpcTransport;
  }

  /** The file's path on disk (Electron only; browsers do not reveal paths). */
  pathForFile(file: File): string | null {
    return this.#transport instanceof IpcTransport ? this.#transport.pathForFile(file) || null : null;
  }

  /** Sends one dropped file's bytes to the browser host, under its path relative to the drop. */
  async upload(batchId: string, relativePath: string, file: Blob): Promise<void> {
    if (!(this.#transport instanceof WsTransport)) {
      throw new ApiError({ code: 'unsupported', message: 'This window cannot upload files; drop them on the Seedbed app instead.' });
    }
    const encoded = relativePath.split('/').filter(Boolean).map(encodeURIComponent).join('/');
    const response = await fetch(`/upload/${batchId}/${encoded}${this.#transport.tokenQuery()}`, {
      method: 'POST',
      body: file,
      credentials: 'same-origin',
      headers: { 'content-type': 'application/octet-stream' },
    });
    if (response.ok) return;
    let message = `The server refused to receive ${relativePath} (HTTP ${response.status}).`;
    try {
      const body: unknown = await response.json();
      if (body && typeof body === 'object' && 'error' in body) {
        const error = (body as { error: { message?: unknown } }).error;
        if (typeof error?.message === 'string') message = error.message;
      }
    } catch {
      // The status line is all there is.
    }
    throw new ApiError({ code: response.status === 401 || response.status === 403 ? 'unauthorized' : 'io_error', message });
  }
}

export const api = new Api();
