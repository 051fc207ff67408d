/**
 * Downloading a backbone, against a local HTTP server that serves the shared model folder
 * (tests never reach the internet): files land in the cache only when complete and checked.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, test } from 'node:test';
import { CoreError } from '../errors.ts';
import { downloadBackbone, expectedWeightBytes, officialUrl } from './download.ts';

const MODEL = nodePath.resolve(import.meta.dirname, '../../../../shared/models/mobilenet_v1_0.25_224');
const haveModel = fs.existsSync(MODEL);
const skip = haveModel ? false : 'needs ../shared/models/mobilenet_v1_0.25_224';
const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-download-test-'));
let server: http.Server;
let base = '';
let truncate = false;
const requested: string[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url!, 'http://x').pathname).replace(/^\/model\//, '');
    requested.push(req.url!);
    const file = nodePath.join(MODEL, name);
    if (!file.startsWith(MODEL) || !fs.existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    const bytes = fs.readFileSync(file);
    res.writeHead(200).end(truncate && name !== 'model.json' ? bytes.subarray(0, bytes.length - 100) : bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model`;
});

after(() => {
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('official addresses are the TF-Hub models @tensorflow-models/mobilenet loads', () => {
  assert.equal(officialUrl('mobilenet_v1_0.25_224'), 'https://tfhub.dev/google/imagenet/mobilenet_v1_025_224/classification/1');
  assert.equal(officialUrl('mobilenet_v2_1.0_224'), 'https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/2');
  assert.equal(officialUrl('mobilenet_v2_0.35_224'), null);
});

test('a download lands in the cache with every weight file, checked against its manifest', { skip }, async () => {
  const cache = nodePath.join(dir, 'cache');
  const progress: [number, number][] = [];
  const result = await downloadBackbone('mobilenet_v1_0.25_224', cache, { baseUrl: base, signal: new AbortController().signal, onProgress: (d, t) => progress.push([d, t]) });
  assert.equal(result.dir, nodePath.join(cache, 'mobilenet_v1_0.25_224'));
  for (const f of fs.readdirSync(MODEL).filter((f) => f !== 'README.md')) {
    assert.deepEqual(fs.readFileSync(nodePath.join(result.dir, f)), fs.readFileSync(nodePath.join(MODEL, f)), f);
  }
  const json = JSON.parse(fs.readFileSync(nodePath.join(MODEL, 'model.json'), 'utf8'));
  assert.equal(result.bytes, expectedWeightBytes(json.weightsManifest));
  const shards = (json.weightsManifest as { paths: string[] }[]).flatMap((g) => g.paths).length;
  assert.deepEqual(progress[0], [0, shards], 'progress starts at 0 of every weight file');
  assert.deepEqual(progress.at(-1), [shards, shards], 'and ends with all of them');
  assert.ok(fs.existsSync(nodePath.join(result.dir, 'download.json')), 'download.json records where it came from');
  assert.deepEqual(fs.readdirSync(cache), ['mobilenet_v1_0.25_224'], 'no temporary folder left');
});

test('a damaged download is refused and leaves nothing in the cache', { skip }, async () => {
  const cache = nodePath.join(dir, 'cache-damaged');
  truncate = true;
  try {
    await assert.rejects(
      downloadBackbone('mobilenet_v1_0.25_224', cache, { baseUrl: base, signal: new AbortController().signal }),
      (err: unknown) => err instanceof CoreError && /damaged/.test(err.message),
    );
  } finally {
    truncate = false;
  }
  assert.deepEqual(fs.readdirSync(cache), []);
});

test('a missing model answers with the address and the server status', async () => {
  const cache = nodePath.join(dir, 'cache-missing');
  await assert.rejects(
    downloadBackbone('mobilenet_v1_0.25_224', cache, { baseUrl: `${base}/nowhere`, signal: new AbortController().signal }),
    (err: unknown) => err instanceof CoreError && /404/.test(err.message) && err.message.includes('/nowhere/model.json'),
  );
  assert.deepEqual(fs.readdirSync(cache), []);
});
