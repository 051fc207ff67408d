/**
 * Messages between the main thread and the decode workers (`decode.worker.ts`). The pool
 * wraps each request as `{ id, request }` and each answer as `{ id, ok, result | error }`.
 */
import type { AugmentPolicy } from '../../../shared/contract/augment.ts';
import type { ImageStats } from '../clean/image-stats.ts';
import type { ImageLimits, SupportedFormat } from './image-safety.ts';

/** Read, hash, check and decode one file, and write its thumbnail. */
export interface DecodeForImport {
  type: 'import';
  path: string;
  /** The project's data folder; the thumbnail goes to `thumbs/` inside it. */
  dataDir: string;
  limits: ImageLimits;
}

/** Render a cached rendition (thumbnail or preview) of an image from one of its source files. */
export interface RenderRendition {
  type: 'render';
  /** Every path the image was found at, first choice first. */
  sources: string[];
  /** The content the sources must still hold. */
  sha256: string;
  /** Absolute path to write (through a temporary file and a rename). */
  outPath: string;
  /** Longest side of the rendition in pixels. */
  maxSide: number;
  quality: number;
  limits: ImageLimits;
}

/** Measure an image for the cleaning checks (clean/image-stats.ts) from the first source that can be read. */
export interface MeasureImage {
  type: 'stats';
  /** Every path the image was found at, first choice first. */
  sources: string[];
}

/** Augmented views of an image's model input (224 px), as JPEG tiles for the live preview. */
export interface AugmentPreviewRequest {
  type: 'augment-preview';
  sources: string[];
  sha256: string;
  policy: AugmentPolicy;
  seed: number;
  views: number[];
  quality: number;
}

/** Writes one augmented copy of an image (the whole picture, long side at most maxSide) as a JPEG file. */
export interface DeriveRequest {
  type: 'derive';
  sources: string[];
  sha256: string;
  policy: AugmentPolicy;
  seed: number;
  view: number;
  /** Absolute path to write (through a temporary file and a rename). */
  outPath: string;
  maxSide: number;
  quality: number;
}

export type DecodeRequest = DecodeForImport | RenderRendition | MeasureImage | AugmentPreviewRequest | DeriveRequest;

export interface DecodedImage {
  type: 'decoded';
  sha256: string;
  /** After EXIF orientation. */
  width: number;
  height: number;
  format: SupportedFormat;
  bytes: number;
  orientation: number;
  /** The thumbnail, relative to the data folder. */
  thumb: string;
}

/** The file cannot be imported; `reason` is written for a person. */
export interface RefusedFile {
  type: 'refused';
  reason: string;
}

/** Something is wrong with the project, not the file (its data folder cannot be written). */
export interface DecodeFatal {
  type: 'fatal';
  message: string;
}

export interface RenditionWritten {
  type: 'rendered';
  path: string;
}

/** No source holds the image any more; `reason` names the paths. */
export interface RenditionUnavailable {
  type: 'unavailable';
  reason: string;
  /** True when at least one source file exists but holds other content. */
  changed: boolean;
}

export type ImportAnswer = DecodedImage | RefusedFile | DecodeFatal;
export type RenderAnswer = RenditionWritten | RenditionUnavailable | RefusedFile | DecodeFatal;
/** The measurements, or why none of the sources could be measured (a decode warning: truncated or corrupt data, a missing file). */
export type MeasureAnswer = { type: 'stats'; stats: ImageStats; path: string } | { type: 'unmeasurable'; reason: string; missing: boolean };
/** The model input and its views as JPEG bytes, or why no source could be read. */
export type AugmentPreviewAnswer = { type: 'augmented'; original: Uint8Array; tiles: Uint8Array[] } | { type: 'unreadable'; reason: string };
/** The copy written, or why not (no readable source: `unreadable`; the folder cannot be written: `fatal`). */
export type DeriveAnswer = { type: 'derived'; path: string; bytes: number } | { type: 'unreadable'; reason: string } | DecodeFatal;
export type DecodeAnswer = ImportAnswer | RenderAnswer | MeasureAnswer | AugmentPreviewAnswer | DeriveAnswer;

/** What the request type answers with. */
export type AnswerTo<R extends DecodeRequest> = R extends DecodeForImport
  ? ImportAnswer
  : R extends MeasureImage
    ? MeasureAnswer
    : R extends AugmentPreviewRequest
      ? AugmentPreviewAnswer
      : R extends DeriveRequest
        ? DeriveAnswer
        : RenderAnswer;
