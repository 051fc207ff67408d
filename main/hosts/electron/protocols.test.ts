// What the window's two schemes answer, checked with real Request objects, the real renderer
// build and the real core. Only Electron's `protocol` object is absent.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { MEDIA_SCHEME, type EventMessage, type HostInfo, type JobInfo } from '../../../shared/contract/index.ts';
import { Core } from '../../core/core.ts';
import { rendererDir } from '../app-paths.ts';
import { appResponse, handleSchemes, mediaResponse, registerSchemes, SCHEMES } from './protocols.ts';
import { APP_CSP, APP_ENTRY_URL, APP_ORIGIN, APP_SCHEME } from './urls.ts';

// Every assert.ok carries a message (see main/hosts/server/server.test.ts for why).

function tempDir(): string {
  return fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-protocols-'));
}

test('both schemes are standard and secure, and none lowers the page\'s guard', () => {
  const registered: unknown[] = [];
  registerSchemes({ registerSchemesAsPrivileged: (schemes) => void registered.push(schemes) });
  assert.deepEqual(registered, [SCHEMES], 'registered once, all schemes in one call');
  assert.deepEqual(SCHEMES.map((s) => s.scheme).sort(), [APP_SCHEME, MEDIA_SCHEME].sort());
  for (const { scheme, privileges } of SCHEMES) {
    assert.equal(privileges?.standard, true, `${scheme}: a real origin, relative URLs, storage`);
    assert.equal(privileges?.secure, true, `${scheme}: a secure context, no mixed content`);
    // corsEnabled would make the responses readable from any origin.
    for (const risky of ['bypassCSP', 'corsEnabled', 'allowServiceWorkers', 'allowExtensions'] as const) {
      assert.notEqual(privileges?.[risky], true, `${scheme} must not have ${risky}`);
    }
  }
});

test('app:// serves the built renderer: every script and stylesheet index.html names loads under the CSP', async (t) => {
  const dir = rendererDir();
  if (!fs.existsSync(nodePath.join(dir, 'index.html'))) {
    t.skip(`the renderer is not built (${dir}); run \`npm run build\``);
    return;
  }
  const page = await appResponse(new Request(APP_ENTRY_URL), dir);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(page.headers.get('content-security-policy'), APP_CSP);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  const html = await page.text();

  const scripts = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"[^>]*>/g)];
  const styles = [...html.matchAll(/<link\b[^>]*\brel="stylesheet"[^>]*\bhref="([^"]+)"[^>]*>/g)];
  assert.ok(scripts.length >= 1, 'index.html loads at least one script');
  assert.ok(styles.length >= 1, 'index.html loads at least one stylesheet');
  assert.doesNotMatch(html, /<script\b(?![^>]*\bsrc=)[^>]*>/, 'no inline script (script-src is \'self\' only)');
  const loads: [string, string, RegExp][] = [
    ...scripts.map(([tag, src]) => [tag, src!, /^text\/javascript/] as [string, string, RegExp]),
    ...styles.map(([tag, href]) => [tag, href!, /^text\/css/] as [string, string, RegExp]),
  ];
  for (const [tag, ref, mime] of loads) {
    const url = new URL(ref, APP_ENTRY_URL);
    // `'self'` in script-src/style-src, and a same-origin CORS request for `crossorigin`.
    // (Node's URL gives custom schemes an opaque origin; Chromium's standard schemes do not.)
    assert.equal(`${url.protocol}//${url.host}`, APP_ORIGIN, `${tag} loads from our own origin`);
    const response = await appResponse(new Request(url), dir);
    assert.equal(response.status, 200, `${tag} is served`);
    assert.match(response.headers.get('content-type') ?? '', mime, `${tag}: a module script needs a JavaScript MIME type under nosniff`);
    assert.ok((await response.arrayBuffer()).byteLength > 0, `${tag} has a body`);
  }
});

test('app:// refuses what is not a renderer file', async () => {
  const dir = tempDir();
  fs.writeFileSync(nodePath.join(dir, 'index.html'), '<!doctype html><title>x</title>');
  fs.writeFileSync(nodePath.join(nodePath.dirname(dir), `${nodePath.basename(dir)}-secret.txt`), 'secret');
  const root = await appResponse(new Request('app://seedbed/'), dir);
  assert.equal(root.status, 200);
  assert.equal(await root.text(), '<!doctype html><title>x</title>');

  const head = await appResponse(new Request('app://seedbed/index.html', { method: 'HEAD' }), dir);
  assert.equal(head.status, 200);
  assert.equal((await head.arrayBuffer()).byteLength, 0, 'HEAD has no body');

  const post = await appResponse(new Request('app://seedbed/index.html', { method: 'POST', body: 'x' }), dir);
  assert.equal(post.status, 404);
  for (const url of ['app://seedbed/missing.js', 'app://other/index.html', `app://seedbed/..%2f${nodePath.basename(dir)}-secret.txt`]) {
    const response = await appResponse(new Request(url), dir);
    assert.equal(response.status, 404, url);
    assert.equal(response.headers.get('content-security-policy'), APP_CSP, `${url}: even a refusal carries the CSP`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(`${dir}-secret.txt`, { force: true });
});

test('seedbed-media:// serves only images of the open project', async () => {
  const dir = tempDir();
  const host: HostInfo = { kind: 'electron', appVersion: 'test', nativeDialogs: true, uploads: false, platform: process.platform };
  const core = new Core({ host, stateDir: nodePath.join(dir, 'state'), sampleDir: nodePath.join(dir, 'sample'), workers: 1 });
  const handled = new Map<string, (request: Request) => Promise<Response>>();
  handleSchemes({ handle: (scheme, handler) => void handled.set(scheme, handler as (request: Request) => Promise<Response>) }, dir, core);
  const media = handled.get(MEDIA_SCHEME);
  assert.ok(media && handled.has(APP_SCHEME), 'both schemes are handled');
  try {
    assert.equal((await mediaResponse(new Request(`${MEDIA_SCHEME}://thumb/1`), core)).status, 404, 'no project open');

    const images = nodePath.join(dir, 'images', 'cat');
    fs.mkdirSync(images, { recursive: true });
    await sharp({ create: { width: 640, height: 480, channels: 3, background: '#3080c0' } }).jpeg().toFile(nodePath.join(images, 'one.jpg'));
    const opened = await core.dispatch('project.create', { path: nodePath.join(dir, 'media.seedbed') });
    assert.equal(opened.ok, true);
    const done = new Promise<JobInfo>((resolve) => {
      const off = core.events.on((message: EventMessage) => {
        if (message.event === 'job.done') {
          off();
          resolve(message.data);
        }
      });
    });
    const started = await core.dispatch('import.start', { paths: [nodePath.join(dir, 'images')], split: 'auto' });
    assert.equal(started.ok, true, JSON.stringify(started));
    assert.equal((await done).status, 'done');
    const ids = await core.dispatch('images.ids', { filter: {} });
    assert.ok(ids.ok && Array.isArray(ids.value) && ids.value.length === 1, JSON.stringify(ids));
    const id = (ids.value as number[])[0]!;

    // The renderer adds the content hash as a query (api.mediaUrl); it changes nothing here.
    const thumb = await media(new Request(`${MEDIA_SCHEME}://thumb/${id}?v=abc`));
    assert.equal(thumb.status, 200);
    assert.equal(thumb.headers.get('content-type'), 'image/jpeg');
    assert.equal(thumb.headers.get('cache-control'), 'no-store');
    const thumbMeta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
    assert.ok((thumbMeta.width ?? 0) <= 256 && (thumbMeta.height ?? 0) <= 256, `a thumbnail, not the original (${thumbMeta.width}×${thumbMeta.height})`);
    const preview = await media(new Request(`${MEDIA_SCHEME}://preview/${id}`));
    assert.equal(preview.status, 200);
    assert.match(preview.headers.get('content-type') ?? '', /^image\//);

    for (const url of [`${MEDIA_SCHEME}://thumb/${id + 1}`, `${MEDIA_SCHEME}://poster/${id}`, `${MEDIA_SCHEME}://thumb/..%2f${id}`]) {
      assert.equal((await media(new Request(url))).status, 404, url);
    }
    await core.dispatch('project.close', {});
    assert.equal((await media(new Request(`${MEDIA_SCHEME}://thumb/${id}`))).status, 404, 'closed project: nothing');
  } finally {
    await core.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
