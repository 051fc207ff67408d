import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { WebSocket } from 'ws';
import type { ClassInfo, EventMessage, JobInfo, ProjectInfo, ResponseMessage } from '../../../shared/contract/index.ts';
import { Core } from '../../core/core.ts';
import { uploadDir } from '../../core/data/import-handlers.ts';
import { startServer, type RunningServer } from './server.ts';

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

// Every assert.ok carries a message: without one, Node builds it by re-reading the source,
// which under tsx's source maps can stall the run instead of reporting the failure.

/** A request exactly as written: Node's client sends the path untouched (no `..` folding). */
function request(
  server: RunningServer,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, path, method: options.method ?? 'GET', headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Opens a socket and resolves once it is open, or rejects with the HTTP status that refused it. */
function connect(server: RunningServer, path: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}${path}`, { headers });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => {
      socket.terminate();
      reject(new Error(`refused with ${res.statusCode}`));
    });
    socket.once('error', reject);
  });
}

/** Sends requests over one socket and collects the events it receives. */
class SocketClient {
  readonly events: EventMessage[] = [];
  #next = 1;
  #pending = new Map<number, (r: ResponseMessage) => void>();
  #eventWaiters: { match: (e: EventMessage) => boolean; resolve: (e: EventMessage) => void }[] = [];

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as ResponseMessage | EventMessage;
      if ('event' in message) {
        this.events.push(message);
        for (const w of [...this.#eventWaiters]) {
          if (w.match(message)) {
            this.#eventWaiters.splice(this.#eventWaiters.indexOf(w), 1);
            w.resolve(message);
          }
        }
        return;
      }
      const resolve = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      resolve?.(message);
    });
  }

  call(method: string, params: unknown = {}): Promise<ResponseMessage> {
    return this.sendRaw(JSON.stringify({ id: this.#next, method, params }), this.#next++);
  }

  sendRaw(text: string, expectId: number): Promise<ResponseMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${text}`)), 10_000);
      this.#pending.set(expectId, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.socket.send(text);
    });
  }

  waitForEvent(match: (e: EventMessage) => boolean): Promise<EventMessage> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('event did not arrive')), 30_000);
      this.#eventWaiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }
}

describe('browser host', () => {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-server-test-'));
  const rendererDir = nodePath.join(dir, 'renderer');
  const imagesDir = nodePath.join(dir, 'images');
  let core: Core;
  let server: RunningServer;
  let cookie: string;
  let origin: string;
  let client: SocketClient;

  before(async () => {
    fs.mkdirSync(nodePath.join(rendererDir, 'assets'), { recursive: true });
    fs.writeFileSync(nodePath.join(rendererDir, 'index.html'), '<!doctype html><title>Seedbed test page</title>');
    fs.writeFileSync(nodePath.join(rendererDir, 'assets', 'app.js'), 'console.log("seedbed")');
    fs.writeFileSync(nodePath.join(dir, 'secret.txt'), 'outside the renderer folder');
    fs.mkdirSync(nodePath.join(imagesDir, 'red'), { recursive: true });
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 220, g: 20, b: 20 } } })
      .jpeg()
      .toFile(nodePath.join(imagesDir, 'red', 'r1.jpg'));

    core = new Core({
      host: { kind: 'web', appVersion: 'test', nativeDialogs: false, uploads: true, platform: process.platform },
      stateDir: nodePath.join(dir, 'state'),
      sampleDir: nodePath.join(dir, 'no-sample'),
      workers: 1,
    });
    const created = await core.dispatch('project.create', { path: nodePath.join(dir, 'server.seedbed') });
    assert.ok(created.ok, JSON.stringify(created));
    server = await startServer({ core, rendererDir, port: 0 });
    origin = server.origin;
  });

  after(async () => {
    client?.socket.terminate();
    await server?.close();
    await core?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('prints an address on 127.0.0.1 with a long random token', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{32}$/);
    assert.equal(server.host, '127.0.0.1');
  });

  test('refuses every kind of request without the token', async () => {
    for (const path of ['/', '/index.html', '/assets/app.js', '/media/thumb/1']) {
      const res = await request(server, path);
      assert.equal(res.status, 401, path);
      assert.match(res.body, /seedbed serve/);
      assert.ok(!res.body.includes('Seedbed test page'), `${path} leaked the page`);
    }
    const upload = await request(server, '/upload/abcdef12/a.jpg', { method: 'POST', headers: { Origin: origin }, body: 'x' });
    assert.equal(upload.status, 401);
    const wrong = await request(server, '/?token=not-the-token');
    assert.equal(wrong.status, 401);
    const wrongCookie = await request(server, '/', { headers: { Cookie: `seedbed_${server.port}=guess` } });
    assert.equal(wrongCookie.status, 401);
  });

  test('trades the token in the address for an HttpOnly, SameSite=Strict cookie', async () => {
    const res = await request(server, `/index.html?token=${server.token}&view=gallery`);
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, '/index.html?view=gallery');
    const setCookie = res.headers['set-cookie']?.[0] ?? '';
    assert.match(setCookie, new RegExp(`^seedbed_${server.port}=${server.token};`));
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    cookie = setCookie.split(';')[0]!;

    const offsite = await request(server, `//evil.example/?token=${server.token}`);
    assert.equal(offsite.status, 302);
    assert.equal(offsite.headers.location, '/', 'the redirect must stay on this server');

    const page = await request(server, '/', { headers: { Cookie: cookie } });
    assert.equal(page.status, 200);
    assert.match(page.body, /Seedbed test page/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, new RegExp(`connect-src 'self' ws://127\\.0\\.0\\.1:${server.port}`));
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /object-src 'none'/);

    const script = await request(server, '/assets/app.js', { headers: { Cookie: cookie } });
    assert.equal(script.status, 200);
    assert.match(String(script.headers['content-type']), /^text\/javascript/);
  });

  test('refuses a Host header that is not this server (DNS rebinding)', async () => {
    const res = await request(server, '/', { headers: { Cookie: cookie, Host: `evil.example:${server.port}` } });
    assert.equal(res.status, 400);
  });

  test('rejects path traversal, plain and encoded', async () => {
    const attempts = [
      '/../../etc/passwd',
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E/%2e%2e/etc/passwd',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/%2e%2e%2fsecret.txt',
      '/assets/..%5csecret.txt',
      '/index.html%00.js',
      '//etc/passwd',
    ];
    for (const path of attempts) {
      const res = await request(server, path, { headers: { Cookie: cookie } });
      assert.ok(res.status === 400 || res.status === 404, `${path} → ${res.status}`);
      assert.ok(!res.body.includes('root:') && !res.body.includes('outside the renderer'), path);
    }
  });

  test('refuses a socket without the token, or from another origin', async () => {
    await assert.rejects(connect(server, '/ws', { Origin: origin }), /401/);
    await assert.rejects(connect(server, '/ws?token=wrong', { Origin: origin }), /401/);
    await assert.rejects(connect(server, '/ws', { Cookie: cookie, Origin: 'http://evil.example' }), /403/);
    await assert.rejects(connect(server, '/ws', { Cookie: cookie }), /403/);
    await assert.rejects(connect(server, '/elsewhere', { Cookie: cookie, Origin: origin }), /404/);
    // The token in the query works too (the renderer sends it when it has one).
    const byQuery = await connect(server, `/ws?token=${server.token}`, { Origin: origin });
    byQuery.terminate();
  });

  test('answers contract calls over the socket', async () => {
    client = new SocketClient(await connect(server, '/ws', { Cookie: cookie, Origin: origin }));
    const current = await client.call('project.current');
    assert.equal(current.result.ok, true);
    assert.equal((current.result as { value: ProjectInfo }).value.path, nodePath.join(dir, 'server.seedbed'));

    const info = await client.call('host.info');
    assert.deepEqual(info.result, {
      ok: true,
      value: { kind: 'web', appVersion: 'test', nativeDialogs: false, uploads: true, platform: process.platform },
    });

    const created = await client.call('classes.create', { name: 'red' });
    assert.equal(created.result.ok, true);
    assert.equal((created.result as { value: ClassInfo }).value.name, 'red');

    const invalid = await client.call('classes.create', { name: '' });
    assert.equal(invalid.result.ok, false);
    assert.equal(!invalid.result.ok && invalid.result.error.code, 'invalid_input');

    const unknown = await client.call('files.delete', {});
    assert.equal(!unknown.result.ok && unknown.result.error.code, 'invalid_input');
  });

  test('answers malformed messages with invalid_input and keeps the socket open', async () => {
    const notJson = await client.sendRaw('{not json', 0);
    assert.equal(!notJson.result.ok && notJson.result.error.code, 'invalid_input');
    const noMethod = await client.sendRaw(JSON.stringify({ id: 77, params: {} }), 77);
    assert.equal(!noMethod.result.ok && noMethod.result.error.code, 'invalid_input');
    const badId = await client.sendRaw(JSON.stringify({ id: 'x', method: 'project.current' }), 0);
    assert.equal(!badId.result.ok && badId.result.error.code, 'invalid_input');
    assert.equal(client.socket.readyState, WebSocket.OPEN);
    const still = await client.call('project.current');
    assert.equal(still.result.ok, true);
  });

  test('forwards core events to the socket', async () => {
    const before = client.events.length;
    const created = await client.call('classes.create', { name: 'blue' });
    assert.equal(created.result.ok, true);
    const changed = await client.waitForEvent((e) => e.event === 'dataset.changed' && client.events.indexOf(e) >= before);
    assert.equal(changed.event, 'dataset.changed');
    await client.waitForEvent((e) => e.event === 'history.changed' && client.events.indexOf(e) >= before);
  });

  test('serves thumbnails of known images only', async () => {
    const started = await client.call('import.start', { paths: [imagesDir], split: 'auto' });
    assert.equal(started.result.ok, true, JSON.stringify(started.result));
    const { jobId } = (started.result as { value: { jobId: string } }).value;
    const done = await client.waitForEvent((e) => e.event === 'job.done' && (e.data as JobInfo).id === jobId);
    assert.equal((done.data as JobInfo).status, 'done');
    const ids = await client.call('images.ids', { filter: { status: 'all' } });
    const [id] = (ids.result as { value: number[] }).value;
    assert.ok(id, 'the import added an image');

    const thumb = await request(server, `/media/thumb/${id}`, { headers: { Cookie: cookie } });
    assert.equal(thumb.status, 200);
    assert.match(String(thumb.headers['content-type']), /^image\//);
    assert.match(String(thumb.headers['cache-control']), /private/);
    assert.match(String(thumb.headers['cache-control']), /max-age/);
    const preview = await request(server, `/media/preview/${id}`, { headers: { Cookie: cookie } });
    assert.equal(preview.status, 200);
    const revalidated = await request(server, `/media/thumb/${id}`, { headers: { Cookie: cookie, 'If-None-Match': String(thumb.headers.etag) } });
    assert.equal(revalidated.status, 304);
    // A URL naming the content (the renderer adds ?v=<hash>) may be kept.
    const versioned = await request(server, `/media/thumb/${id}?v=9884baefe722bb27`, { headers: { Cookie: cookie } });
    assert.equal(versioned.status, 200);
    assert.match(String(versioned.headers['cache-control']), /immutable/);
    assert.doesNotMatch(String(thumb.headers['cache-control']), /immutable/);

    for (const path of ['/media/thumb/999999', '/media/thumb/abc', '/media/thumb/-1', '/media/thumb/1.5', '/media/thumb/0', '/media/poster/1', '/media/thumb/']) {
      const res = await request(server, path, { headers: { Cookie: cookie } });
      assert.equal(res.status, 404, path);
    }
  });

  test('stores uploads under the batch folder and refuses escaping names', async () => {
    const store = core.store()!;
    const batch = 'batch-0001';
    const headers = { Cookie: cookie, Origin: origin, 'Content-Type': 'application/octet-stream' };
    const ok = await request(server, `/upload/${batch}/green/${encodeURIComponent('grün 1.jpg')}`, { method: 'POST', headers, body: 'abc' });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(fs.readFileSync(nodePath.join(uploadDir(store, batch), 'green', 'grün 1.jpg'), 'utf8'), 'abc');

    const escapes = [
      `/upload/${batch}/..%2f..%2fescaped.jpg`,
      `/upload/${batch}/../../escaped.jpg`,
      `/upload/${batch}/%2e%2e/escaped.jpg`,
      `/upload/${batch}/%2Fetc%2Fescaped.jpg`,
      `/upload/${batch}//etc/escaped.jpg`,
      `/upload/${batch}/a%00.jpg`,
      `/upload/${batch}/`,
      '/upload/BAD_ID!/a.jpg',
      '/upload/short/a.jpg',
    ];
    for (const path of escapes) {
      const res = await request(server, path, { method: 'POST', headers, body: 'evil' });
      assert.equal(res.status, 400, `${path} → ${res.status}`);
      assert.equal(JSON.parse(res.body).error.code, 'invalid_input');
    }
    assert.ok(!fs.existsSync(nodePath.join(store.dataDir, 'escaped.jpg')), 'a file escaped to the data folder');
    assert.ok(!fs.existsSync(nodePath.join(store.dataDir, 'uploads', 'escaped.jpg')), 'a file escaped to the uploads folder');

    const foreign = await request(server, `/upload/${batch}/x.jpg`, { method: 'POST', headers: { ...headers, Origin: 'http://evil.example' }, body: 'x' });
    assert.equal(foreign.status, 403);
    const noOrigin = await request(server, `/upload/${batch}/x.jpg`, { method: 'POST', headers: { Cookie: cookie }, body: 'x' });
    assert.equal(noOrigin.status, 403);
    assert.ok(!fs.existsSync(nodePath.join(uploadDir(store, batch), 'x.jpg')), 'a refused upload was stored');
  });

  test('refuses an upload larger than 512 MB before reading it', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: server.port,
        method: 'POST',
        path: '/upload/batch-0002/huge.jpg',
        headers: { Cookie: cookie, Origin: origin, 'Content-Length': String(600 * 1024 * 1024) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write('x');
    });
    assert.equal(status, 413);
  });

  test('imports uploaded files through the contract', async () => {
    const batch = 'batch-0003';
    const bytes = await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 10, g: 200, b: 30 } } }).png().toBuffer();
    const headers = { Cookie: cookie, Origin: origin };
    const res = await request(server, `/upload/${batch}/fruit/green/g1.png`, { method: 'POST', headers, body: bytes });
    assert.equal(res.status, 200);
    const started = await client.call('import.uploaded', { batchId: batch, split: 'auto' });
    assert.equal(started.result.ok, true, JSON.stringify(started.result));
    const { jobId } = (started.result as { value: { jobId: string } }).value;
    await client.waitForEvent((e) => e.event === 'job.done' && (e.data as JobInfo).id === jobId);
    const classes = await client.call('classes.list');
    const names = (classes.result as { value: ClassInfo[] }).value.map((c) => c.name);
    assert.ok(names.includes('green'), `classes after the upload: ${names.join(', ')}`);
  });
});
