import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Core } from '../../core/core.ts';
import { AccessPolicy, hostForUrl, isWildcard, newLaunchToken } from './access.ts';
import { serveMedia, serveStatic } from './files.ts';
import { queryWithout, splitTarget } from '../request-path.ts';
import { securityHeaders, sendError, sendPage } from './responses.ts';
import { SocketHub } from './socket.ts';
import { receiveUpload } from './uploads.ts';

export interface ServerOptions {
  core: Core;
  /** The built renderer folder (index.html). */
  rendererDir: string;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** 0 or absent: any free port. */
  port?: number;
  /** A fixed launch token (tests); default: a fresh random one. */
  token?: string;
}

export interface RunningServer {
  /** The address to open, token included. */
  url: string;
  /** `http://host:port` as a browser sends it in Origin. */
  origin: string;
  host: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const UNAUTHORISED = 'Open the address that `seedbed serve` printed in its terminal (the one ending in ?token=…).';
const MEDIA_PATH = /^\/media\/(thumb|preview)\/([^/]*)$/;

/**
 * The browser host: the renderer's files, the contract over a WebSocket, thumbnails and
 * previews over HTTP, and uploads of dropped files. Every request needs this launch's token.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { core, rendererDir } = options;
  const bindHost = options.host ?? '127.0.0.1';
  const token = options.token ?? newLaunchToken();
  const server = http.createServer();
  server.requestTimeout = 0; // uploads of large files may take a while
  server.headersTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, bindHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const access = new AccessPolicy(token, bindHost, port);
  const hub = new SocketHub((method, params) => core.dispatch(method, params), (listener) => core.events.on(listener));

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handleRequest(req, res).catch((err: unknown) => {
      console.error(err);
      if (!res.headersSent) sendPage(res, 500, 'Something went wrong inside Seedbed; the server log has the details.');
      else res.destroy();
    });
  });

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = access.hostOf(req);
    securityHeaders(res, host);
    const target = splitTarget(req.url);
    if (!target) return sendPage(res, 400, 'That address is not allowed.');
    if (!host) return sendPage(res, 400, `Open Seedbed at the address \`seedbed serve\` printed; this host name is not one it answers to.`);
    const { rawPath, query } = target;
    const isUpload = rawPath.startsWith('/upload/');
    const queryToken = query.get('token');
    if (!access.isAuthorised(req, queryToken)) {
      return isUpload ? sendError(res, 401, 'unauthorized', UNAUTHORISED) : sendPage(res, 401, UNAUTHORISED);
    }
    const method = req.method ?? 'GET';
    if (queryToken !== null && (method === 'GET' || method === 'HEAD')) {
      // Trade the token in the address for a cookie, so it leaves the address bar and history.
      res.writeHead(302, {
        'Set-Cookie': access.sessionCookie(),
        // `//host/…` would send the browser to another site: such a path goes home instead.
        Location: (rawPath.startsWith('//') || rawPath.includes('\\') ? '/' : rawPath) + queryWithout(query, 'token'),
        'Cache-Control': 'no-store',
      });
      res.end();
      return;
    }
    if (isUpload) {
      if (method !== 'POST') return sendError(res, 405, 'invalid_input', 'Uploads are sent with POST.');
      if (!access.originAllowed(req)) return sendError(res, 403, 'unauthorized', 'Uploads are only accepted from the Seedbed page itself.');
      return receiveUpload(req, res, core, rawPath.slice('/upload/'.length));
    }
    if (method !== 'GET' && method !== 'HEAD') {
      if (!access.originAllowed(req)) return sendPage(res, 403, 'Requests are only accepted from the Seedbed page itself.');
      return sendPage(res, 405, 'This address only serves pages.');
    }
    const media = MEDIA_PATH.exec(rawPath);
    if (media) return serveMedia(req, res, core, media[1] as 'thumb' | 'preview', media[2]!, /^[0-9a-f]{8,64}$/.test(query.get('v') ?? ''));
    if (rawPath === '/ws') return sendPage(res, 426, 'This address is for the studio page\'s live connection.');
    return serveStatic(req, res, rendererDir, rawPath);
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A client that drops the connection mid-handshake must not take the server down with it.
    socket.on('error', () => socket.destroy());
    const target = splitTarget(req.url);
    const refuse = (status: string) => {
      socket.once('finish', () => socket.destroy());
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (!target || target.rawPath !== '/ws') return refuse('404 Not Found');
    if (!access.hostOf(req)) return refuse('400 Bad Request');
    if (!access.isAuthorised(req, target.query.get('token'))) return refuse('401 Unauthorized');
    if (!access.originAllowed(req)) return refuse('403 Forbidden');
    hub.wss.handleUpgrade(req, socket, head, (ws) => hub.wss.emit('connection', ws, req));
  });

  const shownHost = isWildcard(bindHost) ? '127.0.0.1' : bindHost;
  const origin = `http://${hostForUrl(shownHost, port)}`;
  return {
    url: `${origin}/?token=${token}`,
    origin,
    host: bindHost,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        hub.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
