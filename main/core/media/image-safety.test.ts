import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import {
  classifyFile,
  decodeErrorReason,
  isOsLitter,
  lacksEndMarker,
  pixelLimitReason,
  sniffFormat,
  SUPPORTED_FORMATS,
} from './image-safety.ts';
import { bmpFile, heicFile, pngBomb, randomBytes, solidJpeg, solidPng } from './test-images.ts';

test('sniffFormat recognises every supported format that this sharp writes', async () => {
  const base = sharp({ create: { width: 8, height: 8, channels: 3, background: '#336699' } });
  const encoded = {
    jpeg: await base.clone().jpeg().toBuffer(),
    png: await base.clone().png().toBuffer(),
    webp: await base.clone().webp().toBuffer(),
    gif: await base.clone().gif().toBuffer(),
    tiff: await base.clone().tiff().toBuffer(),
    avif: await base.clone().avif().toBuffer(),
  };
  for (const format of SUPPORTED_FORMATS) {
    assert.equal(sniffFormat(encoded[format]), format, format);
    // And this sharp decodes each of them back.
    const meta = await sharp(encoded[format]).metadata();
    assert.equal(meta.width, 8, `${format} decodes`);
  }
});

test('sniffFormat names formats Seedbed refuses, and tells text from noise', () => {
  assert.equal(sniffFormat(bmpFile()), 'bmp');
  assert.equal(sniffFormat(heicFile()), 'heic');
  assert.equal(sniffFormat(Buffer.from('8BPS\u0000\u0001rest', 'latin1')), 'psd');
  assert.equal(sniffFormat(Buffer.from('%PDF-1.7\n...')), 'pdf');
  assert.equal(sniffFormat(Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>')), 'svg');
  assert.equal(sniffFormat(Buffer.from('just some notes, not a picture\n')), 'text');
  assert.equal(sniffFormat(randomBytes(500)), 'unknown');
  // "BM" at the start of text is not a bitmap.
  assert.equal(sniffFormat(Buffer.from('BMW service record: 2019, 2021, 2023 and more text here')), 'text');
});

test('classifyFile decodes by content and refuses with reasons a person understands', async () => {
  const png = await solidPng(1);
  assert.deepEqual(classifyFile('/x/photo.jpg', png), { decode: 'png' }, 'a PNG named .jpg is still a PNG');
  assert.deepEqual(classifyFile('/x/empty.jpg', Buffer.alloc(0)), { refuse: 'the file is empty (0 bytes)' });
  assert.deepEqual(classifyFile('/x/noise.jpg', randomBytes(100)), {
    refuse: 'not an image: its content is not a JPEG, PNG, WebP, GIF, TIFF or AVIF image even though it is named .jpg',
  });
  assert.match(
    (classifyFile('/x/readme.png', Buffer.from('hello')) as { refuse: string }).refuse,
    /^not an image: .* named \.png \(it holds text\)$/,
  );
  assert.deepEqual(classifyFile('/x/IMG_0001.HEIC', heicFile()), {
    refuse: 'unsupported format: HEIC images are not supported; convert to JPEG or PNG',
  });
  assert.deepEqual(classifyFile('/x/scan.bmp', bmpFile()), {
    refuse: 'unsupported format: BMP images are not supported; convert to JPEG or PNG',
  });
  assert.match((classifyFile('/x/scan.jpg', bmpFile()) as { refuse: string }).refuse, /BMP images are not supported.*named \.jpg but holds a BMP image/);
  assert.match((classifyFile('/x/garbage.heic', randomBytes(64)) as { refuse: string }).refuse, /^unsupported format: HEIC/);
  assert.match((classifyFile('/x/DSC_1.NEF', Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8])) as { refuse: string }).refuse, /camera RAW files are not supported; export them as JPEG or TIFF/);
  assert.deepEqual(classifyFile('/x/notes.txt', Buffer.from('a note')), { refuse: 'not an image file' });
  assert.deepEqual(classifyFile('/x/no-extension', await solidJpeg(2)), { decode: 'jpeg' });
});

test('pixel limit and decode errors read as sentences', () => {
  assert.equal(
    pixelLimitReason(12_000, 12_000, 100_000_000),
    'the image is too large to open safely: 12,000 × 12,000 pixels (144 megapixels; the limit is 100 megapixels)',
  );
  assert.match(decodeErrorReason('jpeg', 'VipsJpeg: premature end of JPEG image'), /^the file is truncated: its JPEG data ends early/);
  assert.match(decodeErrorReason('png', 'vipspng: libpng read error', true), /^the file is truncated: its PNG data/);
  assert.equal(
    decodeErrorReason('tiff', 'Input buffer contains unsupported image format'),
    'the file is damaged: its TIFF data is corrupt and cannot be decoded',
  );
  // A message lost between threads: the missing end marker still tells a cut-short file.
  assert.match(decodeErrorReason('jpeg', 'Unknown error', true), /^the file is truncated: its JPEG data/);
  assert.equal(decodeErrorReason('jpeg', 'Unknown error', false), 'the file is damaged: its JPEG data is corrupt and cannot be decoded');
  assert.match(decodeErrorReason('jpeg', 'VipsJpeg: Unsupported marker type 0x8c'), /damaged: its JPEG data is corrupt .*\(VipsJpeg: Unsupported marker type 0x8c\)/);
});

test('lacksEndMarker spots a PNG or JPEG cut short', async () => {
  const png = await solidPng(3);
  const jpeg = await solidJpeg(3);
  assert.equal(lacksEndMarker('png', png), false);
  assert.equal(lacksEndMarker('png', png.subarray(0, png.length - 20)), true);
  assert.equal(lacksEndMarker('jpeg', jpeg), false);
  assert.equal(lacksEndMarker('jpeg', jpeg.subarray(0, jpeg.length - 40)), true);
  assert.equal(lacksEndMarker('png', pngBomb(100, 100)), false);
});

test('OS litter is recognised, real names are not', () => {
  for (const name of ['.DS_Store', 'Thumbs.db', 'desktop.ini', '._IMG_0001.jpg', '.hidden.png', 'project.seedbed']) {
    assert.equal(isOsLitter(name, false), true, name);
  }
  for (const name of ['__MACOSX', '.git', 'project.seedbed.d']) assert.equal(isOsLitter(name, true), true, name);
  for (const name of ['IMG_0001.jpg', 'thumbs.jpg', '-dash.png', 'ünïcødé 🌱.jpg']) assert.equal(isOsLitter(name, false), false, name);
  assert.equal(isOsLitter('cats', true), false);
});
