/**
 * Real image files (and real broken ones) for tests, made with sharp or byte by byte.
 * Not used by the app.
 */
import { deflateSync, crc32 } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';

/** A small JPEG whose colour (and so content and hash) is unique per seed. */
export function solidJpeg(seed: number, width = 64, height = 48): Promise<Buffer> {
  return solidImage(seed, width, height).jpeg({ quality: 90 }).toBuffer();
}

export function solidPng(seed: number, width = 64, height = 48): Promise<Buffer> {
  return solidImage(seed, width, height).png().toBuffer();
}

function solidImage(seed: number, width: number, height: number): Sharp {
  const r = (seed * 53) % 256;
  const g = Math.floor(seed / 256) * 17 % 256;
  const b = (seed * 197 + 31) % 256;
  return sharp({ create: { width, height, channels: 3, background: { r, g, b } } });
}

/** Noise compresses badly, so there is real data to cut short. */
export function noisyImage(width: number, height: number): Sharp {
  return sharp({ create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
}

/** A JPEG carrying an EXIF orientation (6 = rotate 90° clockwise to display). */
export async function orientedJpeg(width: number, height: number, orientation: number): Promise<Buffer> {
  const plain = await sharp({ create: { width, height, channels: 3, background: '#c03020' } }).jpeg().toBuffer();
  return sharp(plain).withMetadata({ orientation }).jpeg().toBuffer();
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

/**
 * A valid PNG of a huge blank image in a small file: 1-bit greyscale, every row zero. The
 * decompression bomb an import must refuse by its pixel count.
 */
export function pngBomb(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const rowBytes = 1 + Math.ceil(width / 8);
  const raw = Buffer.alloc(rowBytes * height); // filter byte 0 and black pixels on every row
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A 2×2 24-bit Windows bitmap. */
export function bmpFile(): Buffer {
  const width = 2;
  const height = 2;
  const rowBytes = Math.ceil((width * 3) / 4) * 4;
  const pixels = Buffer.alloc(rowBytes * height, 0x7f);
  const header = Buffer.alloc(54);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(54 + pixels.length, 2);
  header.writeUInt32LE(54, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(width, 18);
  header.writeInt32LE(height, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(24, 28);
  header.writeUInt32LE(pixels.length, 34);
  return Buffer.concat([header, pixels]);
}

/** The start of an iPhone HEIC file: an ISO media `ftyp` box with the heic brand, then filler. */
export function heicFile(): Buffer {
  const ftyp = Buffer.alloc(24);
  ftyp.writeUInt32BE(24, 0);
  ftyp.write('ftypheic', 4, 'latin1');
  ftyp.writeUInt32BE(0, 12);
  ftyp.write('mif1heic', 16, 'latin1');
  return Buffer.concat([ftyp, Buffer.alloc(200, 0x21)]);
}

/** Bytes no image format starts with. */
export function randomBytes(length: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed * 2654435761;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  bytes[0] = 0x13; // not the first byte of any signature sniffFormat knows
  bytes[1] = 0x00;
  return bytes;
}
