/**
 * Reads a labels CSV: `path,label[,split]`, an optional header row (detected by a path
 * column name), quoted fields (RFC 4180), paths relative to the CSV's folder or absolute.
 */
import fs from 'node:fs/promises';
import nodePath from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { ImportSplit, Split } from '../../../shared/contract/index.ts';
import { CoreError } from '../errors.ts';
import { readErrorReason } from '../media/image-safety.ts';
import {
  chooseSplit,
  normaliseClassName,
  splitFromFolderName,
  wholeMs,
  type FoundFiles,
  type ImportCandidate,
} from './import-scan.ts';

const PATH_HEADERS = new Set(['path', 'file', 'filename', 'file_name', 'filepath', 'file_path', 'image', 'image_path', 'img']);
const LABEL_HEADERS = new Set(['label', 'class', 'class_name', 'classname', 'category', 'target']);
const SPLIT_HEADERS = new Set(['split', 'subset', 'set', 'fold']);
const MAX_CSV_BYTES = 256 * 1024 * 1024;

/**
 * Splits CSV text into records of fields. Quoted fields keep their content exactly (commas,
 * line breaks, `""` for a quote); unquoted fields are trimmed. A blank line is a record of one
 * empty field, so record numbers match a spreadsheet's row numbers.
 */
export function* parseCsv(text: string): Generator<string[]> {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;
  let record: string[] = [];
  let field = '';
  let quoted = false;
  const endField = () => {
    record.push(quoted ? field : field.trim());
    field = '';
    quoted = false;
  };
  while (i < n) {
    const c = text[i]!;
    if (c === '"' && field.trim() === '' && !quoted) {
      // A quoted field: read to the closing quote.
      quoted = true;
      field = '';
      i++;
      while (i < n) {
        const q = text[i]!;
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += q;
        i++;
      }
      // Anything between the closing quote and the next comma is kept, as spreadsheets do.
      while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') field += text[i++];
      continue;
    }
    if (c === ',') {
      endField();
      i++;
      continue;
    }
    if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      i++;
      endField();
      yield record;
      record = [];
      continue;
    }
    field += c;
    i++;
  }
  if (field !== '' || quoted || record.length) {
    endField();
    yield record;
  }
}

interface Columns {
  path: number;
  label: number;
  split: number;
}

function columnsFromHeader(header: readonly string[]): Columns | null {
  const names = header.map((h) => h.trim().toLowerCase());
  const path = names.findIndex((h) => PATH_HEADERS.has(h));
  if (path < 0) return null;
  const label = names.findIndex((h) => LABEL_HEADERS.has(h));
  const split = names.findIndex((h) => SPLIT_HEADERS.has(h));
  return { path, label: label >= 0 ? label : path === 0 ? 1 : 0, split: split >= 0 ? split : -1 };
}

/** The files a labels CSV lists, with their labels and splits; bad rows are reported by number. */
export async function readImportCsv(csvPath: string, requestedSplit: ImportSplit, signal: AbortSignal): Promise<FoundFiles> {
  const path = nodePath.resolve(csvPath);
  let text: string;
  try {
    const stats = await fs.stat(path);
    if (!stats.isFile()) throw new CoreError('invalid_input', `${path} is a folder, not a CSV file.`);
    if (stats.size > MAX_CSV_BYTES) throw new CoreError('invalid_input', `${path} is too large for a labels CSV (over 256 MB).`);
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof CoreError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CoreError('not_found', `There is no CSV file at ${path}.`);
    throw new CoreError('io_error', `Seedbed could not read ${path}: ${readErrorReason(err)}.`);
  }
  const base = nodePath.dirname(path);
  const files: ImportCandidate[] = [];
  const skipped: FoundFiles['skipped'] = [];
  const firstRowOf = new Map<string, number>();
  let columns: Columns = { path: 0, label: 1, split: 2 };
  let row = 0;
  let rows = 0;
  for (const record of parseCsv(text)) {
    row++;
    if (row === 1) {
      const header = columnsFromHeader(record);
      if (header) {
        columns = header;
        continue;
      }
    }
    if (row % 2000 === 0) {
      signal.throwIfAborted();
      await yieldToEventLoop();
    }
    if (record.every((f) => f === '')) continue;
    rows++;
    const rawPath = record[columns.path] ?? '';
    if (!rawPath) {
      skipped.push({ path: `${path} (row ${row})`, reason: `row ${row}: the row has no file path` });
      continue;
    }
    const filePath = nodePath.resolve(base, rawPath);
    const earlier = firstRowOf.get(filePath);
    if (earlier !== undefined) {
      skipped.push({ path: filePath, reason: `row ${row}: this file is already listed in row ${earlier}` });
      continue;
    }
    firstRowOf.set(filePath, row);
    const rawSplit = columns.split >= 0 ? (record[columns.split] ?? '').trim() : '';
    let split: Split | null = null;
    if (rawSplit) {
      split = splitFromFolderName(rawSplit);
      if (!split) {
        skipped.push({ path: filePath, reason: `row ${row}: "${rawSplit}" is not a split; use train, val or test` });
        continue;
      }
    }
    let stats;
    try {
      stats = await fs.stat(filePath);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : readErrorReason(err);
      skipped.push({ path: filePath, reason: `row ${row}: ${reason}` });
      continue;
    }
    if (!stats.isFile()) {
      skipped.push({ path: filePath, reason: `row ${row}: this is a folder, not an image file` });
      continue;
    }
    files.push({
      path: filePath,
      size: stats.size,
      mtimeMs: wholeMs(stats.mtimeMs),
      className: normaliseClassName(record[columns.label] ?? ''),
      split: chooseSplit(requestedSplit, split),
      row,
    });
  }
  return { files, skipped, scanned: rows };
}
