import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import type { DirEntry, DirListing, Handlers, ProjectInfo } from '../../shared/contract/index.ts';
import type { CoreContext } from './context.ts';
import { CoreError } from './errors.ts';
import { startImport } from './data/import-handlers.ts';
import { recoverInterruptedJobs } from './jobs/manager.ts';
import { recoverInterruptedRuns } from './ml/runs.ts';
import { recoverInterruptedSearches } from './tune/search-job.ts';
import { openStore, PROJECT_EXTENSION, type Store } from './store/open.ts';

const RECENT_LIMIT = 10;
const SAMPLE_NAME = `Sample project${PROJECT_EXTENSION}`;
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

type ProjectMethods =
  | 'project.current'
  | 'project.create'
  | 'project.open'
  | 'project.openSample'
  | 'project.close'
  | 'project.recent'
  | 'files.list';

/** Describes an open project for the renderer. */
export function projectInfo(store: Store): ProjectInfo {
  const sample = store.db.prepare("SELECT value FROM meta WHERE key = 'sample'").pluck().get();
  return {
    path: store.path,
    name: nodePath.basename(store.path, PROJECT_EXTENSION),
    dataDir: store.dataDir,
    schemaVersion: store.schemaVersion,
    isSample: sample === '1',
  };
}

/** Projects opened lately, newest first, kept in the app's state folder. */
export class RecentProjects {
  readonly #file: string;
  constructor(stateDir: string) {
    this.#file = nodePath.join(stateDir, 'recent-projects.json');
  }

  list(): string[] {
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(this.#file, 'utf8'));
      if (!Array.isArray(parsed)) return [];
      return parsed.filter((p): p is string => typeof p === 'string' && fs.existsSync(p));
    } catch {
      return [];
    }
  }

  add(path: string): void {
    const next = [path, ...this.list().filter((p) => p !== path)].slice(0, RECENT_LIMIT);
    try {
      fs.mkdirSync(nodePath.dirname(this.#file), { recursive: true });
      fs.writeFileSync(this.#file, JSON.stringify(next, null, 2));
    } catch (err) {
      // A read-only state folder must not stop a project from opening.
      console.warn(`Could not remember recent projects in ${this.#file}: ${(err as Error).message}`);
    }
  }
}

/** `.seedbed` is added when the user typed a bare name. */
export function normaliseProjectPath(path: string): string {
  const resolved = nodePath.resolve(expandHome(path));
  return resolved.endsWith(PROJECT_EXTENSION) ? resolved : resolved + PROJECT_EXTENSION;
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? nodePath.join(os.homedir(), path.slice(1)) : path;
}

/** A chooser lists at most this many images of one folder; a folder is chosen whole anyway. */
export const LISTED_IMAGES_LIMIT = 2000;

/**
 * Sorts entries in natural order ("img2" before "img10"), case-insensitive, without ICU
 * collation: each name is split into digit and text runs once, so 20,000 names sort in ~30 ms.
 */
function sortNatural(entries: DirEntry[]): DirEntry[] {
  const keyed = entries.map((entry) => ({ entry, parts: entry.name.toLowerCase().match(/\d+|\D+/g) ?? [] }));
  keyed.sort((a, b) => {
    for (let i = 0; i < Math.min(a.parts.length, b.parts.length); i++) {
      const p = a.parts[i]!;
      const q = b.parts[i]!;
      if (p === q) continue;
      if (isDigit(p) && isDigit(q)) return Number(p) - Number(q) || p.length - q.length;
      return p < q ? -1 : 1;
    }
    return a.parts.length - b.parts.length || (a.entry.name < b.entry.name ? -1 : a.entry.name > b.entry.name ? 1 : 0);
  });
  return keyed.map((k) => k.entry);
}

function isDigit(run: string): boolean {
  const c = run.charCodeAt(0);
  return c >= 48 && c <= 57;
}

/**
 * Lists a folder for the in-app file chooser: sub-folders, CSV files, projects and (the first
 * LISTED_IMAGES_LIMIT) images. Asynchronous: a folder of 20,000 photos must not stall the host.
 */
export async function listFolder(path: string | undefined): Promise<DirListing> {
  const dir = nodePath.resolve(expandHome(path ?? os.homedir()));
  let dirents: fs.Dirent[];
  try {
    dirents = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CoreError('not_found', `The folder ${dir} does not exist.`);
    if (code === 'ENOTDIR') throw new CoreError('invalid_input', `${dir} is a file, not a folder.`);
    if (code === 'EACCES' || code === 'EPERM') {
      throw new CoreError('io_error', `Seedbed has no permission to open the folder ${dir}.`);
    }
    throw new CoreError('io_error', `Seedbed could not list ${dir}: ${(err as Error).message}.`);
  }
  const others: DirEntry[] = [];
  const images: DirEntry[] = [];
  for (const d of dirents) {
    if (d.name.startsWith('.')) continue;
    const full = nodePath.join(dir, d.name);
    let isDir = d.isDirectory();
    if (d.isSymbolicLink()) {
      try {
        isDir = (await fs.promises.stat(full)).isDirectory();
      } catch {
        continue; // a dangling link is nothing to choose
      }
    }
    if (isDir) {
      if (!d.name.endsWith('.seedbed.d')) others.push({ name: d.name, path: full, kind: 'dir' });
      continue;
    }
    const ext = nodePath.extname(d.name).toLowerCase();
    if (IMAGE_EXTENSIONS.has(ext)) images.push({ name: d.name, path: full, kind: 'image' });
    else if (ext === '.csv') others.push({ name: d.name, path: full, kind: 'csv' });
    else if (ext === PROJECT_EXTENSION) others.push({ name: d.name, path: full, kind: 'project' });
  }
  const order = { dir: 0, project: 1, csv: 2, image: 3 } as const;
  const sortedOthers = sortNatural(others).sort((a, b) => order[a.kind] - order[b.kind]); // stable: natural order within a kind
  const parent = nodePath.dirname(dir);
  return {
    path: dir,
    parent: parent === dir ? null : parent,
    entries: [...sortedOthers, ...sortNatural(images).slice(0, LISTED_IMAGES_LIMIT)],
    imageCount: images.length,
  };
}

/** Project lifecycle: create, open, the bundled sample, recent projects, the file chooser. */
export function projectHandlers(
  ctx: CoreContext,
  setStore: (store: Store | null) => void,
): Pick<Handlers, ProjectMethods> {
  const recent = new RecentProjects(ctx.options.stateDir);

  function activate(store: Store): ProjectInfo {
    recoverInterruptedJobs(store.db);
    recoverInterruptedRuns(store);
    recoverInterruptedSearches(store.db);
    setStore(store);
    const info = projectInfo(store);
    if (!info.isSample) recent.add(store.path);
    ctx.events.emit('project.changed', info);
    return info;
  }

  function open(path: string): ProjectInfo {
    const resolved = nodePath.resolve(expandHome(path));
    const current = ctx.store();
    if (current && current.path === resolved) return projectInfo(current);
    return activate(openStore(resolved, withBinding(ctx)));
  }

  return {
    'project.current': () => {
      const store = ctx.store();
      return store ? projectInfo(store) : null;
    },
    'project.create': ({ path }) => {
      const resolved = normaliseProjectPath(path);
      const store = openStore(resolved, { ...withBinding(ctx), create: true });
      store.db
        .prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('created_at', ?)")
        .run(String(Date.now()));
      return activate(store);
    },
    'project.open': ({ path }) => open(path),
    'project.openSample': () => {
      const dir = nodePath.join(ctx.options.stateDir, 'samples');
      const path = nodePath.join(dir, SAMPLE_NAME);
      if (fs.existsSync(path)) return open(path);
      if (!fs.existsSync(ctx.options.sampleDir)) {
        throw new CoreError('not_found', `The sample images are missing from ${ctx.options.sampleDir}.`);
      }
      fs.mkdirSync(dir, { recursive: true });
      const store = openStore(path, { ...withBinding(ctx), create: true });
      store.db.prepare("INSERT INTO meta (key, value) VALUES ('sample', '1')").run();
      const info = activate(store);
      startImport(ctx, { paths: [ctx.options.sampleDir], split: 'auto' });
      return info;
    },
    'project.close': () => {
      setStore(null);
      ctx.events.emit('project.changed', null);
      return null;
    },
    'project.recent': () => recent.list(),
    'files.list': ({ path }) => listFolder(path),
  };
}

function withBinding(ctx: CoreContext): { nativeBinding?: string } {
  return ctx.options.nativeBinding ? { nativeBinding: ctx.options.nativeBinding } : {};
}
