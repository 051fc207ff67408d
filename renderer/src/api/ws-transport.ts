import type {
  EventMessage,
  RequestMessage,
  ResponseMessage,
  Result,
} from '../../../shared/contract/index.ts';
import type { ConnectionStatus, MediaKind, Transport } from './transport.ts';

const RETRY_DELAYS_MS = [300, 700, 1500, 3000, 5000];

interface Pending {
  resolve: (result: Result<unknown>) => void;
  message: string;
}

/**
 * The browser host: JSON requests over one WebSocket, answers matched by id. When the socket
 * drops it reconnects with backoff; calls made meanwhile wait and go out once it is back.
 * Calls already sent when it dropped fail with an error that says so, because the server
 * may or may not have applied them.
 */
export class WsTransport implements Transport {
  readonly kind = 'ws';
  #socket: WebSocket | null = null;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #queue: string[] = [];
  #listeners = new Set<(message: EventMessage) => void>();
  #statusListeners = new Set<(status: ConnectionStatus, reconnected: boolean) => void>();
  #status: ConnectionStatus = 'connecting';
  #attempt = 0;
  #everOpened = false;

  constructor(
    private readonly url: string,
    private readonly token: string | null,
  ) {
    this.#connect();
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  invoke(method: string, params: unknown): Promise<Result<unknown>> {
    const id = this.#nextId++;
    const request: RequestMessage = { id, method, params };
    const text = JSON.stringify(request);
    return new Promise((resolve) => {
      this.#pending.set(id, { resolve, message: text });
      if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(text);
      else this.#queue.push(text);
    });
  }

  subscribe(listener: (message: EventMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onStatus(listener: (status: ConnectionStatus, reconnected: boolean) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  mediaUrl(kind: MediaKind, imageId: number): string {
    return `/media/${kind}/${imageId}`;
  }

  /** Query string carrying the launch token, for URLs a cookie might not cover. */
  tokenQuery(): string {
    return this.token ? `?token=${encodeURIComponent(this.token)}` : '';
  }

  #setStatus(status: ConnectionStatus, reconnected = false): void {
    this.#status = status;
    for (const listener of this.#statusListeners) listener(status, reconnected);
  }

  #connect(): void {
    const socket = new WebSocket(this.url + this.tokenQuery());
    this.#socket = socket;
    socket.onopen = () => {
      const reconnected = this.#everOpened;
      this.#everOpened = true;
      this.#attempt = 0;
      const queued = this.#queue;
      this.#queue = [];
      for (const text of queued) socket.send(text);
      this.#setStatus('open', reconnected);
    };
    socket.onmessage = (ev) => this.#receive(ev.data);
    socket.onclose = () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.#failSent();
      this.#setStatus(this.#everOpened ? 'reconnecting' : 'connecting');
      const delay = RETRY_DELAYS_MS[Math.min(this.#attempt, RETRY_DELAYS_MS.length - 1)];
      this.#attempt++;
      setTimeout(() => this.#connect(), delay);
    };
    // onclose follows every error; nothing to add here.
    socket.onerror = () => {};
  }

  /** Requests already sent on the dropped socket will never be answered. */
  #failSent(): void {
    const queued = new Set(this.#queue);
    for (const [id, pending] of this.#pending) {
      if (queued.has(pending.message)) continue;
      this.#pending.delete(id);
      pending.resolve({
        ok: false,
        error: {
          code: 'io_error',
          message:
            'The connection to the Seedbed server dropped before it answered; check that your last change was saved.',
        },
      });
    }
  }

  #receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn('Seedbed: ignored a message that is not JSON');
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    if ('event' in message) {
      for (const listener of this.#listeners) listener(message as EventMessage);
      return;
    }
    if ('id' in message && 'result' in message) {
      const response = message as ResponseMessage;
      const pending = this.#pending.get(response.id);
      if (!pending) return;
      this.#pending.delete(response.id);
      pending.resolve(response.result);
    }
  }
}
