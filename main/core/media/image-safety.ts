/**
 * What Seedbed will decode, how it recognises a file's real format, and the words it uses
 * when it refuses one. Pure functions: the decode worker and the import scanner share them.
 */
import nodePath from 'node:path';

/** Formats the studio imports (what this sharp/libvips build decodes and browsers show). */
export const SUPPORTED_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'] as const;
export type SupportedFormat = (typeof SUPPORTED_FORMATS)[number];

/** Image formats Seedbed recognises but does not import. */
export type UnsupportedFormat =
  | 'heic'
  | 'bmp'
  | 'svg'
  | 'psd'
  | 'raw'
  | 'ico'
  | 'jp2'
  | 'jxl'
  | 'pdf'
  | 'exr'
  | 'hdr'
  | 'pnm'
  | 'tga'
  | 'dds'
  | 'xcf'
  | 'eps';

export type SniffedFormat = SupportedFormat | UnsupportedFormat | 'text' | 'unknown';

export interface ImageLimits {
  /** Largest decoded size in pixels; bigger files are refused as decompression bombs. */
  maxPixels: number;
  /** Largest file in bytes (the whole file is read into memory to hash and decode it). */
  maxBytes: number;
}

export const DEFAULT_LIMITS: ImageLimits = {
  maxPixels: 100_000_000,
  maxBytes: 1024 * 1024 * 1024,
};

/** How many leading bytes `sniffFormat` needs. */
export const SNIFF_BYTES = 4096;

const FORMAT_NAMES: Record<SupportedFormat | UnsupportedFormat, string> = {
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  gif: 'GIF',
  tiff: 'TIFF',
  avif: 'AVIF',
  heic: 'HEIC',
  bmp: 'BMP',
  svg: 'SVG',
  psd: 'Photoshop (PSD)',
  raw: 'camera RAW',
  ico: 'ICO',
  jp2: 'JPEG 2000',
  jxl: 'JPEG XL',
  pdf: 'PDF',
  exr: 'OpenEXR',
  hdr: 'Radiance HDR',
  pnm: 'PNM/PGM/PPM',
  tga: 'TGA',
  dds: 'DDS',
  xcf: 'GIMP (XCF)',
  eps: 'EPS',
};

export function formatName(format: SupportedFormat | UnsupportedFormat): string {
  return FORMAT_NAMES[format];
}

/** File name extensions (lower case, with the dot) and the format they claim. */
const EXTENSION_FORMATS: Record<string, SupportedFormat | UnsupportedFormat> = {
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.jpe': 'jpeg',
  '.jfif': 'jpeg',
  '.png': 'png',
  '.apng': 'png',
  '.webp': 'webp',
  '.gif': 'gif',
  '.tif': 'tiff',
  '.tiff': 'tiff',
  '.avif': 'avif',
  '.heic': 'heic',
  '.heif': 'heic',
  '.hif': 'heic',
  '.bmp': 'bmp',
  '.dib': 'bmp',
  '.svg': 'svg',
  '.svgz': 'svg',
  '.psd': 'psd',
  '.psb': 'psd',
  '.ico': 'ico',
  '.cur': 'ico',
  '.jp2': 'jp2',
  '.j2k': 'jp2',
  '.jpx': 'jp2',
  '.jpf': 'jp2',
  '.jxl': 'jxl',
  '.pdf': 'pdf',
  '.exr': 'exr',
  '.hdr': 'hdr',
  '.pbm': 'pnm',
  '.pgm': 'pnm',
  '.ppm': 'pnm',
  '.pnm': 'pnm',
  '.pam': 'pnm',
  '.tga': 'tga',
  '.dds': 'dds',
  '.xcf': 'xcf',
  '.eps': 'eps',
  '.ai': 'eps',
  // Camera RAW files: several are TIFF inside, but what libvips would show is the embedded
  // preview, not the photo, so they are refused by name.
  '.raw': 'raw',
  '.cr2': 'raw',
  '.cr3': 'raw',
  '.crw': 'raw',
  '.nef': 'raw',
  '.nrw': 'raw',
  '.arw': 'raw',
  '.srf': 'raw',
  '.sr2': 'raw',
  '.dng': 'raw',
  '.orf': 'raw',
  '.rw2': 'raw',
  '.raf': 'raw',
  '.pef': 'raw',
  '.srw': 'raw',
  '.x3f': 'raw',
  '.3fr': 'raw',
  '.erf': 'raw',
  '.kdc': 'raw',
  '.mrw': 'raw',
  '.iiq': 'raw',
};

/** The format a file's name claims, or null when its extension is not an image format. */
export function formatFromExtension(path: string): SupportedFormat | UnsupportedFormat | null {
  return EXTENSION_FORMATS[nodePath.extname(path).toLowerCase()] ?? null;
}

export function isSupportedFormat(format: string): format is SupportedFormat {
  return (SUPPORTED_FORMATS as readonly string[]).includes(format);
}

function startsWith(head: Uint8Array, bytes: readonly number[], at = 0): boolean {
  if (head.length < at + bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (head[at + i] !== bytes[i]) return false;
  return true;
}

function ascii(head: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...head.subarray(from, Math.min(to, head.length)));
}

const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);
const AVIF_BRANDS = new Set(['avif', 'avis']);

/** Recognises a file's format from its first bytes (at least `SNIFF_BYTES` when available). */
export function sniffFormat(head: Uint8Array): SniffedFormat {
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'webp';
  if (startsWith(head, [0x49, 0x49, 0x2a, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  // BigTIFF: libvips reads it as TIFF too.
  if (startsWith(head, [0x49, 0x49, 0x2b, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2b])) return 'tiff';
  if (ascii(head, 4, 8) === 'ftyp') {
    // ISO media: the major brand, then compatible brands, say what the file holds.
    const boxSize = ((head[0] ?? 0) << 24) | ((head[1] ?? 0) << 16) | ((head[2] ?? 0) << 8) | (head[3] ?? 0);
    const brands: string[] = [ascii(head, 8, 12)];
    for (let at = 16; at + 4 <= Math.min(boxSize, head.length); at += 4) brands.push(ascii(head, at, at + 4));
    if (brands.some((b) => AVIF_BRANDS.has(b))) return 'avif';
    if (brands.some((b) => HEIC_BRANDS.has(b)) || brands.includes('mif1') || brands.includes('msf1')) return 'heic';
    if (brands.includes('crx ')) return 'raw';
    return 'unknown';
  }
  if (startsWith(head, [0x42, 0x4d]) && head.length >= 26) {
    // "BM" alone is common in text; a BMP header also names its own size and a known DIB header size.
    const dibSize = (head[14] ?? 0) | ((head[15] ?? 0) << 8) | ((head[16] ?? 0) << 16) | ((head[17] ?? 0) << 24);
    if ([12, 40, 52, 56, 64, 108, 124].includes(dibSize)) return 'bmp';
  }
  if (ascii(head, 0, 4) === '8BPS') return 'psd';
  if (ascii(head, 0, 4) === '%PDF') return 'pdf';
  if (ascii(head, 0, 4) === '%!PS' || startsWith(head, [0xc5, 0xd0, 0xd3, 0xc6])) return 'eps';
  if (startsWith(head, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(head, [0xff, 0x4f, 0xff, 0x51])) {
    return 'jp2';
  }
  if (startsWith(head, [0xff, 0x0a]) || startsWith(head, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return 'jxl';
  if (startsWith(head, [0x76, 0x2f, 0x31, 0x01])) return 'exr';
  if (ascii(head, 0, 10) === '#?RADIANCE' || ascii(head, 0, 6) === '#?RGBE') return 'hdr';
  if (ascii(head, 0, 4) === 'DDS ') return 'dds';
  if (ascii(head, 0, 9) === 'gimp xcf ') return 'xcf';
  if (startsWith(head, [0x00, 0x00, 0x01, 0x00]) || startsWith(head, [0x00, 0x00, 0x02, 0x00])) {
    const count = (head[4] ?? 0) | ((head[5] ?? 0) << 8);
    if (count > 0 && count < 256 && head.length >= 22) return 'ico';
  }
  if (head.length >= 3 && head[0] === 0x50 && (head[1] ?? 0) >= 0x31 && (head[1] ?? 0) <= 0x37 && /\s/.test(String.fromCharCode(head[2] ?? 0))) {
    return 'pnm';
  }
  if (looksLikeText(head)) {
    const text = new TextDecoder('utf-8', { fatal: false }).decode(head.subarray(0, 1024)).toLowerCase();
    if (text.includes('<svg')) return 'svg';
    return 'text';
  }
  return 'unknown';
}

function looksLikeText(head: Uint8Array): boolean {
  if (head.length === 0) return false;
  let start = 0;
  if (startsWith(head, [0xef, 0xbb, 0xbf])) start = 3;
  let control = 0;
  const n = Math.min(head.length, 1024);
  for (let i = start; i < n; i++) {
    const b = head[i]!;
    if (b === 0) return false;
    if (b < 0x09 || (b > 0x0d && b < 0x20)) control++;
  }
  return control <= n / 100;
}

/** "unsupported format: HEIC images are not supported; convert to JPEG or PNG". */
export function unsupportedReason(format: UnsupportedFormat, namedAs?: string): string {
  const what = format === 'raw' ? 'camera RAW files are' : format === 'pdf' ? 'PDF documents are' : `${FORMAT_NAMES[format]} images are`;
  const convert = format === 'raw' ? 'export them as JPEG or TIFF' : format === 'svg' || format === 'eps' ? 'export it as PNG' : 'convert to JPEG or PNG';
  const naming = namedAs ? ` (the file is named ${namedAs} but holds a ${FORMAT_NAMES[format]} image)` : '';
  return `unsupported format: ${what} not supported; ${convert}${naming}`;
}

const SUPPORTED_LIST = 'a JPEG, PNG, WebP, GIF, TIFF or AVIF image';

/** "not an image: its content is not … even though it is named .jpg". */
export function notAnImageReason(path: string, sniffed: SniffedFormat): string {
  const ext = nodePath.extname(path).toLowerCase();
  const holds = sniffed === 'text' ? ' (it holds text)' : '';
  return `not an image: its content is not ${SUPPORTED_LIST} even though it is named ${ext}${holds}`;
}

export const NOT_AN_IMAGE_FILE = 'not an image file';
export const EMPTY_FILE = 'the file is empty (0 bytes)';

/**
 * Decides from a file's name and first bytes what to do with it: decode it as `format`, or
 * refuse it with a reason a person understands.
 */
export function classifyFile(
  path: string,
  head: Uint8Array,
): { decode: SupportedFormat } | { refuse: string } {
  if (head.length === 0) return { refuse: EMPTY_FILE };
  const claimed = formatFromExtension(path);
  const ext = nodePath.extname(path).toLowerCase();
  if (claimed === 'raw') return { refuse: unsupportedReason('raw') };
  const sniffed = sniffFormat(head);
  if (isSupportedFormat(sniffed)) return { decode: sniffed };
  if (sniffed !== 'text' && sniffed !== 'unknown') {
    const misnamed = claimed !== null && claimed !== sniffed ? ext : undefined;
    return { refuse: unsupportedReason(sniffed, misnamed) };
  }
  if (claimed === null) return { refuse: NOT_AN_IMAGE_FILE };
  if (isSupportedFormat(claimed)) return { refuse: notAnImageReason(path, sniffed) };
  // Named as a format Seedbed does not read (and not recognisably anything else).
  return { refuse: unsupportedReason(claimed) };
}

/** "the image is too large to open safely: 12,000 × 12,000 pixels (144 megapixels; the limit is 100)". */
export function pixelLimitReason(width: number, height: number, maxPixels: number): string {
  const size = `${width.toLocaleString('en')} × ${height.toLocaleString('en')} pixels`;
  if (maxPixels < 1_000_000) {
    return `the image is too large to open safely: ${size} (the limit is ${maxPixels.toLocaleString('en')} pixels)`;
  }
  const mp = (n: number) => (n >= 10_000_000 ? Math.round(n / 1_000_000) : Math.round(n / 100_000) / 10).toLocaleString('en');
  return `the image is too large to open safely: ${size} (${mp(width * height)} megapixels; the limit is ${mp(maxPixels)} megapixels)`;
}

export function fileTooLargeReason(bytes: number, maxBytes: number): string {
  return `the file is too large (${formatBytes(bytes)}); Seedbed imports image files up to ${formatBytes(maxBytes)}`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1).replace(/\.0$/, '')} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1).replace(/\.0$/, '')} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}

const TRUNCATION = /premature end|truncat|unexpected end|end of (file|stream|data|input)|short read|not enough data|out of data|bad seek|eof/i;

/**
 * True when a file of this format lacks the marker its data must end with (PNG's IEND chunk,
 * JPEG's EOI, GIF's trailer): the sign of a partial copy when decoding fails.
 */
export function lacksEndMarker(format: SupportedFormat, bytes: Uint8Array): boolean {
  const tail = bytes.subarray(Math.max(0, bytes.length - 64));
  const has = (marker: readonly number[]) => {
    for (let i = tail.length - marker.length; i >= 0; i--) if (startsWith(tail, marker, i)) return true;
    return false;
  };
  switch (format) {
    case 'png':
      return !has([0x49, 0x45, 0x4e, 0x44]);
    case 'jpeg':
      return !has([0xff, 0xd9]);
    case 'gif':
      return tail[tail.length - 1] !== 0x3b;
    default:
      return false;
  }
}

/**
 * Turns a libvips decode error into words: truncated, or otherwise damaged. When decoding
 * failed, a file without its end marker (`endMissing`) was cut short, whatever the message
 * says: libpng only reports a "read error", and libvips keeps one error buffer for the whole
 * process, so with several decode workers a message can be lost ("Unknown error").
 */
export function decodeErrorReason(format: SupportedFormat, message: string, endMissing = false): string {
  const name = FORMAT_NAMES[format];
  if (TRUNCATION.test(message) || endMissing) {
    return `the file is truncated: its ${name} data ends early (it may have been partly copied or downloaded)`;
  }
  if (/exceeds pixel limit/i.test(message)) return 'the image is too large to open safely';
  const uninformative = !message.trim() || /unknown error|libpng read error|unsupported image format/i.test(message);
  const detail = uninformative ? '' : firstLine(message);
  return `the file is damaged: its ${name} data is corrupt and cannot be decoded${detail ? ` (${detail})` : ''}`;
}

function firstLine(message: string): string {
  const line = message.split('\n').find((l) => l.trim()) ?? '';
  return line.trim().slice(0, 160);
}

/** A reason for an error reading a file (or listing a folder), by its errno code. */
export function readErrorReason(err: unknown, what: 'file' | 'folder' = 'file'): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return what === 'file' ? 'Seedbed has no permission to read this file' : 'Seedbed has no permission to open this folder';
    case 'ENOENT':
      return what === 'file' ? 'the file disappeared before Seedbed could read it' : 'the folder disappeared before Seedbed could open it';
    case 'ELOOP':
      return 'symlink loop: this link points back to itself, so there is nothing to read';
    case 'EIO':
      return `the disk reported an error while reading this ${what} (EIO)`;
    case 'ENAMETOOLONG':
      return `the path is too long for this system to open`;
    case 'EMFILE':
    case 'ENFILE':
      return `too many files were open at once; import this ${what} again`;
    default:
      return `Seedbed could not read this ${what}${code ? ` (${code})` : ''}: ${(err as Error)?.message ?? String(err)}`;
  }
}

/** Operating-system litter that an import skips without mentioning it. */
export function isOsLitter(name: string, isFolder: boolean): boolean {
  if (name.startsWith('.')) return true; // hidden files and folders, AppleDouble `._x`, .DS_Store
  if (isFolder) {
    return (
      name === '__MACOSX' ||
      name === '$RECYCLE.BIN' ||
      name === 'System Volume Information' ||
      name.endsWith('.seedbed.d') // a project's own thumbnails and previews
    );
  }
  const lower = name.toLowerCase();
  return (
    lower === 'thumbs.db' ||
    lower === 'ehthumbs.db' ||
    lower === 'ehthumbs_vista.db' ||
    lower === 'desktop.ini' ||
    name === 'Icon\r' ||
    lower.endsWith('.seedbed') ||
    lower.endsWith('.seedbed-wal') ||
    lower.endsWith('.seedbed-shm') ||
    lower.endsWith('.seedbed-journal')
  );
}
