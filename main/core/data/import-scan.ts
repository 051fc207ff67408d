/**
 * Finds the files an import takes from folders and loose files, and what each folder says
 * about them: class-named subfolders label their images, a top level of train/val/test
 * folders assigns splits, and a given folder that holds only images is itself a class folder
 * (see `isClassFolder`). Follows symbolic links, but never into a folder twice.
 */
import fs from 'node:fs/promises';
import type { Dirent, Stats } from 'node:fs';
import nodePath from 'node:path';
import type { ImportSplit, SkippedFile, Split } from '../../../shared/contract/index.ts';
import { formatFromExtension, isOsLitter, readErrorReason } from '../media/image-safety.ts';

/** A file an import will look at, with what its place says about it. */
export interface ImportCandidate {
  path: string;
  size: number;
  /** Whole milliseconds, as image_paths stores them. */
  mtimeMs: number;
  className: string | null;
  split: Split | null;
  /** The CSV row that named it, for reasons ("row 7: …"). */
  row?: number;
}

export interface FoundFiles {
  files: ImportCandidate[];
  /** Files and folders that could not be looked at (unreadable folders, broken links, loops). */
  skipped: SkippedFile[];
  /** Files looked at: those found plus those that could not be read (folders not counted). */
  scanned: number;
}

const STAT_CONCURRENCY = 32;
const CLASS_NAME_MAX = 80;
const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** The split a folder name stands for (train, val/valid/validation, test; any case), or null. */
export function splitFromFolderName(name: string): Split | null {
  switch (name.trim().toLowerCase()) {
    case 'train':
      return 'train';
    case 'val':
    case 'valid':
    case 'validation':
      return 'val';
    case 'test':
      return 'test';
    default:
      return null;
  }
}

/** A folder or CSV label as a class name: NFC (macOS writes names decomposed), trimmed, at most 80 characters. */
export function normaliseClassName(raw: string): string | null {
  const name = raw.normalize('NFC').trim().slice(0, CLASS_NAME_MAX).trim();
  return name ? name : null;
}

/** The split an import gives a file: forced by the request, or the one its place says (`auto`). */
export function chooseSplit(requested: ImportSplit, fromLayout: Split | null): Split | null {
  if (requested === 'auto') return fromLayout;
  if (requested === 'none') return null;
  return requested;
}

/**
 * What a file's folders (relative to the imported folder) say: in a split layout the first
 * level is the split and the second the class, else the first level is the class. Images
 * directly in the folder (or directly in train/ …) are unlabeled.
 */
export function labelFromFolders(folders: readonly string[], splitLayout: boolean): { className: string | null; split: Split | null } {
  const first = folders[0];
  if (first === undefined) return { className: null, split: null };
  const split = splitLayout ? splitFromFolderName(first) : null;
  if (split) {
    const second = folders[1];
    return { className: second === undefined ? null : normaliseClassName(second), split };
  }
  return { className: normaliseClassName(first), split: null };
}

/**
 * What a given folder that is a class folder (see `isClassFolder`) says about its images: the
 * folder's own name is their class, unless it is named train/val/test, which is a split and
 * no class. The split request applies as for any folder (`auto`: that named split, else none).
 */
export function classFolderLabel(folderName: string): { className: string | null; split: Split | null } {
  const split = splitFromFolderName(folderName);
  return split ? { className: null, split } : { className: normaliseClassName(folderName), split: null };
}

export function wholeMs(mtimeMs: number): number {
  return Math.trunc(mtimeMs);
}

/** Finds every file under the given folders and files (absolute paths), in a stable order. */
export async function findImportFiles(
  paths: readonly string[],
  requestedSplit: ImportSplit,
  signal: AbortSignal,
  onFound?: (count: number) => void,
): Promise<FoundFiles> {
  const files: ImportCandidate[] = [];
  const skipped: SkippedFile[] = [];
  const seenFiles = new Set<string>();
  const visitedFolders = new Set<string>();
  let unreadableFiles = 0;
  let lastReported = 0;

  const addFile = (path: string, stats: Stats, label: { className: string | null; split: Split | null }) => {
    if (seenFiles.has(path)) return;
    seenFiles.add(path);
    files.push({
      path,
      size: stats.size,
      mtimeMs: wholeMs(stats.mtimeMs),
      className: label.className,
      split: chooseSplit(requestedSplit, label.split),
    });
    if (onFound && files.length - lastReported >= 500) {
      lastReported = files.length;
      onFound(files.length);
    }
  };

  /** Lists a folder; an unreadable one is reported, not fatal. */
  const list = async (dir: string): Promise<Dirent[] | null> => {
    try {
      const entries = await fs.readdir(dir, { withFileTypes: true });
      return entries.sort((a, b) => collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (err) {
      skipped.push({ path: dir, reason: readErrorReason(err, 'folder') });
      return null;
    }
  };

  /** Follows a link (or reads a file's stats); a broken or looping link is reported. */
  const statOrReport = async (path: string, isLink: boolean): Promise<Stats | null> => {
    try {
      return await fs.stat(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      unreadableFiles++;
      if (isLink && code === 'ENOENT') {
        const target = await fs.readlink(path).catch(() => '?');
        skipped.push({ path, reason: `broken link: it points to ${target}, which does not exist` });
      } else {
        skipped.push({ path, reason: readErrorReason(err, 'file') });
      }
      return null;
    }
  };

  /** `fixedLabel`: every file under the folder gets this label (a given class folder). */
  const walk = async (
    dir: string,
    folders: string[],
    ancestors: Map<string, string>,
    splitLayout: boolean,
    fixedLabel: { className: string | null; split: Split | null } | null = null,
  ): Promise<void> => {
    signal.throwIfAborted();
    const entries = await list(dir);
    if (!entries) return;
    const filesHere: { path: string; stats: Stats | null }[] = [];
    const foldersHere: { path: string; name: string }[] = [];
    for (const entry of entries) {
      const path = nodePath.join(dir, entry.name);
      if (entry.isSymbolicLink()) {
        if (entry.name.startsWith('.')) continue;
        const stats = await statOrReport(path, true);
        if (!stats) continue;
        if (stats.isDirectory()) {
          if (!isOsLitter(entry.name, true)) foldersHere.push({ path, name: entry.name });
        } else if (stats.isFile()) {
          if (!isOsLitter(entry.name, false)) filesHere.push({ path, stats });
        }
      } else if (entry.isDirectory()) {
        if (!isOsLitter(entry.name, true)) foldersHere.push({ path, name: entry.name });
      } else if (entry.isFile()) {
        if (!isOsLitter(entry.name, false)) filesHere.push({ path, stats: null });
      }
      // Sockets, pipes and devices are not pictures, and reading a pipe could block forever.
    }
    const label = fixedLabel ?? labelFromFolders(folders, splitLayout);
    for (let i = 0; i < filesHere.length; i += STAT_CONCURRENCY) {
      signal.throwIfAborted();
      const chunk = filesHere.slice(i, i + STAT_CONCURRENCY);
      const stats = await Promise.all(chunk.map((f) => f.stats ?? statOrReport(f.path, false)));
      chunk.forEach((f, j) => {
        const s = stats[j];
        if (s) addFile(f.path, s, label);
      });
    }
    for (const folder of foldersHere) {
      let real: string;
      try {
        real = await fs.realpath(folder.path);
      } catch (err) {
        skipped.push({ path: folder.path, reason: readErrorReason(err, 'folder') });
        continue;
      }
      const ancestor = ancestors.get(real);
      if (ancestor !== undefined) {
        skipped.push({
          path: folder.path,
          reason: `symlink loop: this folder leads back to ${ancestor}; Seedbed did not follow it again`,
        });
        continue;
      }
      // Reached before through another link: its files are already in this import.
      if (visitedFolders.has(real)) continue;
      visitedFolders.add(real);
      const inner = new Map(ancestors).set(real, folder.path);
      await walk(folder.path, [...folders, folder.name], inner, splitLayout, fixedLabel);
    }
  };

  for (const given of paths) {
    signal.throwIfAborted();
    const path = nodePath.resolve(given);
    const name = nodePath.basename(path);
    let stats: Stats;
    try {
      stats = await fs.stat(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const isLink = await fs.lstat(path).then((s) => s.isSymbolicLink(), () => false);
      if (code === 'ENOENT' && !isLink) {
        unreadableFiles++;
        skipped.push({ path, reason: 'there is no file or folder at this path' });
      } else await statOrReport(path, isLink);
      continue;
    }
    if (stats.isFile()) {
      // A file dropped on its own is unlabeled, whatever folder it sits in.
      if (!isOsLitter(name, false)) addFile(path, stats, { className: null, split: null });
    } else if (stats.isDirectory()) {
      const real = await fs.realpath(path).catch(() => path);
      if (visitedFolders.has(real)) continue;
      visitedFolders.add(real);
      const top = await fs.readdir(path, { withFileTypes: true }).catch(() => [] as Dirent[]);
      // Several folders dropped at once (glass/, metal/) are each a class, not a dataset root.
      if (await isClassFolder(path, top, signal)) {
        await walk(path, [], new Map([[real, path]]), false, classFolderLabel(name));
        continue;
      }
      const splitLayout = await hasSplitFolders(path, top);
      await walk(path, [], new Map([[real, path]]), splitLayout);
    } else {
      unreadableFiles++;
      skipped.push({ path, reason: 'not an image file (it is not a regular file)' });
    }
  }
  onFound?.(files.length);
  return { files, skipped, scanned: files.length + unreadableFiles };
}

/** True when a folder's top level holds train/, val/ or test/ folders (the ImageFolder layout). */
async function hasSplitFolders(dir: string, entries: readonly Dirent[]): Promise<boolean> {
  for (const entry of entries) {
    if (!splitFromFolderName(entry.name)) continue;
    if (entry.isDirectory()) return true;
    if (entry.isSymbolicLink()) {
      const stats = await fs.stat(nodePath.join(dir, entry.name)).catch(() => null);
      if (stats?.isDirectory()) return true;
    }
  }
  return false;
}

/** An entry's kind, following a symbolic link (a broken one is neither). */
async function entryKind(dir: string, entry: Dirent): Promise<'file' | 'folder' | null> {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'folder';
  if (!entry.isSymbolicLink()) return null;
  const stats = await fs.stat(nodePath.join(dir, entry.name)).catch(() => null);
  return stats?.isFile() ? 'file' : stats?.isDirectory() ? 'folder' : null;
}

/** A file named as an image (any image format, supported or not), not operating-system litter. */
function isImageName(name: string): boolean {
  return !isOsLitter(name, false) && formatFromExtension(name) !== null;
}

/**
 * The rule for a folder given to an import (chosen, dropped or uploaded): when it holds images
 * directly and none of its sub-folders, at any depth, holds any, it is a class folder named
 * after itself, so dropping glass/ and metal/ together labels their images glass and metal. A
 * folder whose images sit in sub-folders (trashnet/ with cardboard/, glass/ …) stays a dataset
 * root whose sub-folders are the classes, and so does one holding both loose images and image
 * sub-folders (its loose images import unlabeled).
 */
export async function isClassFolder(dir: string, entries: readonly Dirent[], signal: AbortSignal): Promise<boolean> {
  const folders: string[] = [];
  let holdsImages = false;
  for (const entry of entries) {
    const kind = await entryKind(dir, entry);
    if (kind === 'file' && isImageName(entry.name)) holdsImages = true;
    else if (kind === 'folder' && !isOsLitter(entry.name, true)) folders.push(nodePath.join(dir, entry.name));
  }
  if (!holdsImages) return false;
  const seen = new Set<string>([await fs.realpath(dir).catch(() => dir)]);
  for (const folder of folders) {
    if (await holdsImagesBelow(folder, seen, signal)) return false;
  }
  return true;
}

/** Whether a folder or any folder under it holds an image; `seen` keeps symbolic link loops finite. */
async function holdsImagesBelow(dir: string, seen: Set<string>, signal: AbortSignal): Promise<boolean> {
  signal.throwIfAborted();
  const real = await fs.realpath(dir).catch(() => null);
  if (real === null || seen.has(real)) return false;
  seen.add(real);
  // An unreadable sub-folder holds no images that this import could take.
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => [] as Dirent[]);
  const folders: string[] = [];
  for (const entry of entries) {
    const kind = await entryKind(dir, entry);
    if (kind === 'file' && isImageName(entry.name)) return true;
    if (kind === 'folder' && !isOsLitter(entry.name, true)) folders.push(nodePath.join(dir, entry.name));
  }
  for (const folder of folders) {
    if (await holdsImagesBelow(folder, seen, signal)) return true;
  }
  return false;
}
