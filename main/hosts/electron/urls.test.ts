import assert from 'node:assert/strict';
import nodePath from 'node:path';
import { test } from 'node:test';
import { APP_CSP, isAppUrl, isExternalWebUrl, isPermissionGranted, mediaRequestFor, parseLaunchArgs, rendererFileFor } from './urls.ts';

const root = nodePath.resolve('/opt/seedbed/dist/renderer');

test('app:// resolves files inside the renderer folder only', () => {
  assert.equal(rendererFileFor('app://seedbed/', root), nodePath.join(root, 'index.html'));
  assert.equal(rendererFileFor('app://seedbed/index.html', root), nodePath.join(root, 'index.html'));
  assert.equal(rendererFileFor('app://seedbed/assets/index-abc.js?x=1#y', root), nodePath.join(root, 'assets', 'index-abc.js'));
  assert.equal(rendererFileFor('app://seedbed/assets/a%20b.css', root), nodePath.join(root, 'assets', 'a b.css'));
  const refused = [
    'app://other/index.html',
    'file:///etc/passwd',
    'app://seedbed/assets/..%2f..%2f..%2fpackage.json',
    'app://seedbed/%2e%2e%2fsecret',
    'app://seedbed/a%5c..%5c..%5csecret',
    'app://seedbed/index.html%00.js',
    'app://seedbed//etc/passwd',
    'not a url',
  ];
  for (const url of refused) assert.equal(rendererFileFor(url, root), null, url);
  // The URL parser folds plain `..` before we see it; what is left stays inside.
  const folded = rendererFileFor('app://seedbed/../../etc/passwd', root);
  assert.ok(folded === null || folded.startsWith(root + nodePath.sep), `escaped to ${folded}`);
});

test('seedbed-media:// names a kind and a positive id, nothing else', () => {
  assert.deepEqual(mediaRequestFor('seedbed-media://thumb/12'), { kind: 'thumb', id: 12 });
  assert.deepEqual(mediaRequestFor('seedbed-media://preview/3/'), { kind: 'preview', id: 3 });
  for (const url of [
    'seedbed-media://thumb/0',
    'seedbed-media://thumb/-4',
    'seedbed-media://thumb/1.5',
    'seedbed-media://thumb/abc',
    'seedbed-media://thumb/1/2',
    'seedbed-media://poster/1',
    'seedbed-media://thumb/9999999999999999999',
    'app://thumb/1',
  ]) {
    assert.equal(mediaRequestFor(url), null, url);
  }
});

test('only http(s) pages may open in the system browser', () => {
  assert.equal(isExternalWebUrl('https://github.com/garythung/trashnet'), true);
  assert.equal(isExternalWebUrl('http://example.org/'), true);
  for (const url of ['file:///etc/passwd', 'javascript:alert(1)', 'smb://host/share', 'app://seedbed/', 'https://', 'mailto:a@b.c']) {
    assert.equal(isExternalWebUrl(url), false, url);
  }
});

test('our pages are app://seedbed/ and nothing that merely looks like it', () => {
  assert.equal(isAppUrl('app://seedbed/index.html'), true);
  for (const url of ['app://seedbed.evil/index.html', 'https://seedbed/', 'app://evil/seedbed/', 'about:blank', '']) {
    assert.equal(isAppUrl(url), false, url);
  }
});

test('the page may load images from the media scheme and connect nowhere', () => {
  assert.match(APP_CSP, /img-src 'self' seedbed-media: blob: data:/);
  assert.match(APP_CSP, /connect-src 'self'(;|$)/);
  assert.match(APP_CSP, /script-src 'self'(;|$)/);
  assert.match(APP_CSP, /object-src 'none'/);
  assert.match(APP_CSP, /frame-src 'none'/);
  assert.doesNotMatch(APP_CSP, /unsafe-eval|script-src[^;]*unsafe-inline|\*/);
});

test('the only permission granted is the clipboard write of our own page', () => {
  assert.equal(isPermissionGranted('clipboard-sanitized-write', 'app://seedbed'), true);
  assert.equal(isPermissionGranted('clipboard-sanitized-write', 'app://seedbed/index.html'), true);
  assert.equal(isPermissionGranted('clipboard-sanitized-write', 'https://example.org/'), false);
  assert.equal(isPermissionGranted('clipboard-sanitized-write', ''), false);
  for (const permission of ['clipboard-read', 'media', 'notifications', 'geolocation', 'openExternal', 'fullscreen', 'hid', 'usb', 'serial']) {
    assert.equal(isPermissionGranted(permission, 'app://seedbed'), false, permission);
  }
});

test('launch arguments: --project and --user-data-dir among Electron\'s own', () => {
  assert.deepEqual(
    parseLaunchArgs(['/usr/bin/electron', 'dist/main/electron.mjs', '--project', '/tmp/a.seedbed', '--user-data-dir=/tmp/state', '--no-sandbox']),
    { project: '/tmp/a.seedbed', userDataDir: '/tmp/state' },
  );
  assert.deepEqual(parseLaunchArgs(['seedbed', '--project=/x.seedbed']), { project: '/x.seedbed', userDataDir: null });
  assert.deepEqual(parseLaunchArgs(['seedbed', '--project', '--inspect']), { project: null, userDataDir: null });
  assert.deepEqual(parseLaunchArgs(['seedbed']), { project: null, userDataDir: null });
});

test('a double-clicked project arrives as a bare path or a file:// URL', () => {
  // Windows (NSIS association): Seedbed.exe "C:\\…\\x.seedbed"; Linux .desktop files pass %U.
  assert.deepEqual(parseLaunchArgs(['/opt/Seedbed/seedbed', '/home/ana/leaves.seedbed']), {
    project: '/home/ana/leaves.seedbed',
    userDataDir: null,
  });
  assert.deepEqual(parseLaunchArgs(['/opt/Seedbed/seedbed', '--no-sandbox', 'file:///home/ana/my%20leaves.seedbed']), {
    project: '/home/ana/my leaves.seedbed',
    userDataDir: null,
  });
  assert.equal(parseLaunchArgs(['seedbed', 'Leaves.SEEDBED']).project, 'Leaves.SEEDBED');
  // Development: the main script and Chromium's switches are not projects.
  assert.equal(parseLaunchArgs(['/usr/bin/electron', 'dist/main/electron.mjs', '--inspect=0', 'notes.txt']).project, null);
  // --project wins over a bare file wherever it stands.
  assert.equal(parseLaunchArgs(['seedbed', 'a.seedbed', '--project', 'b.seedbed']).project, 'b.seedbed');
  assert.equal(parseLaunchArgs(['seedbed', '--project=b.seedbed', 'a.seedbed']).project, 'b.seedbed');
  // The value of --user-data-dir is not a project, whatever it ends with.
  assert.deepEqual(parseLaunchArgs(['seedbed', '--user-data-dir', '/tmp/x.seedbed']), { project: null, userDataDir: '/tmp/x.seedbed' });
});
