import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { EventMessage, ResponseMessage, Result } from '../../../shared/contract/index.ts';
import type { Core } from '../../core/core.ts';

const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
const HEARTBEAT_MS = 30_000;
/** A tab that stopped reading loses progress ticks rather than growing the server's memory. */
const PROGRESS_BACKLOG_BYTES = 4 * 1024 * 1024;

type Dispatch = Core['dispatch'];

/**
 * The contract over WebSocket: each text message is a RequestMessage answered by a
 * ResponseMessage with the same id; every core event goes to every socket. A malformed
 * message gets an `invalid_input` answer and the socket stays open.
 */
export class SocketHub {
  readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
  readonly #alive = new WeakSet<WebSocket>();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #unsubscribe: () => void;

  constructor(
    private readonly dispatch: Dispatch,
    subscribe: (listener: (message: EventMessage) => void) => () => void,
  ) {
    this.wss.on('connection', (socket) => this.#accept(socket));
    this.#unsubscribe = subscribe((message) => this.#broadcast(message));
    this.#heartbeat = setInterval(() => this.#checkAlive(), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  #accept(socket: WebSocket): void {
    this.#alive.add(socket);
    socket.on('pong', () => this.#alive.add(socket));
    socket.on('message', (data, isBinary) => void this.#receive(socket, data, isBinary));
    socket.on('error', () => socket.terminate());
  }

  async #receive(socket: WebSocket, data: RawData, isBinary: boolean): Promise<void> {
    const request = isBinary ? null : parseRequest(rawText(data));
    if (!request || 'error' in request) {
      const id = request && 'error' in request ? request.id : 0;
      const message = request && 'error' in request ? request.error : 'Messages must be JSON text: {"id", "method", "params"}.';
      this.#send(socket, { id, result: { ok: false, error: { code: 'invalid_input', message } } });
      return;
    }
    let result: Result<unknown>;
    try {
      result = await this.dispatch(request.method, request.params);
    } catch (err) {
      console.error(err);
      result = { ok: false, error: { code: 'internal', message: 'Something went wrong inside Seedbed; the log has the details.' } };
    }
    this.#send(socket, { id: request.id, result });
  }

  #send(socket: WebSocket, response: ResponseMessage): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    let text: string;
    try {
      text = JSON.stringify(response);
    } catch (err) {
      console.error(err);
      text = JSON.stringify({
        id: response.id,
        result: { ok: false, error: { code: 'internal', message: 'Seedbed could not send this answer; the log has the details.' } },
      } satisfies ResponseMessage);
    }
    socket.send(text);
  }

  #broadcast(message: EventMessage): void {
    if (this.wss.clients.size === 0) return;
    const text = JSON.stringify(message);
    for (const socket of this.wss.clients) {
      if (socket.readyState !== WebSocket.OPEN) continue;
      if (message.event === 'job.progress' && socket.bufferedAmount > PROGRESS_BACKLOG_BYTES) continue;
      socket.send(text);
    }
  }

  #checkAlive(): void {
    for (const socket of this.wss.clients) {
      if (!this.#alive.has(socket)) {
        socket.terminate();
        continue;
      }
      this.#alive.delete(socket);
      socket.ping();
    }
  }

  close(): void {
    clearInterval(this.#heartbeat);
    this.#unsubscribe();
    for (const socket of this.wss.clients) socket.terminate();
    this.wss.close();
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

type ParsedRequest = { id: number; method: string; params: unknown } | { id: number; error: string };

function parseRequest(text: string): ParsedRequest | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  const id = Number.isSafeInteger(record.id) ? (record.id as number) : null;
  if (id === null) return { id: 0, error: 'A request needs a whole-number "id".' };
  if (typeof record.method !== 'string' || record.method.length === 0 || record.method.length > 100) {
    return { id, error: 'A request needs a "method" naming one of the contract\'s methods.' };
  }
  return { id, method: record.method, params: record.params ?? {} };
}
