import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import type { DirEntry, DirListing, Handlers, ProjectInfo } from '../../shared/contract/index.ts';
import type { CoreContext } from './context.ts';
import { CoreError } from './errors.ts';
import { startImport } from './data/import-handlers.ts';
import { recoverInterruptedJobs } from './jobs/manager.ts';
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

/** Lists a folder for the in-app file chooser: sub-folders, images, CSV files and projects. */
export function listFolder(path: string | undefined): DirListing {
  const dir = nodePath.resolve(expandHome(path ?? os.homedir()));
  let dirents: fs.Dirent[];
  try {
    dirents = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CoreError('not_found', `The folder ${dir} does not exist.`);
    if (code === 'ENOTDIR') throw new CoreError('invalid_input', `${dir} is a file, not a folder.`);
    if (code === 'EACCES' || code === 'EPERM') {
      throw new CoreError('io_error', `Seedbed has no permission to open the folder ${dir}.`);
    }
    throw new CoreError('io_error', `Seedbed could not list ${dir}: ${(err as Error).message}.`);
  }
  const entries: DirEntry[] = [];
  for (const d of dirents) {
    if (d.name.startsWith('.')) continue;
    const full = nodePath.join(dir, d.name);
    let isDir = d.isDirectory();
    if (d.isSymbolicLink()) {
      try {
        isDir = fs.statSync(full).isDirectory();
      } catch {
        continue; // a dangling link is nothing to choose
      }
    }
    if (isDir) {
      if (!d.name.endsWith('.seedbed.d')) entries.push({ name: d.name, path: full, kind: 'dir' });
      continue;
    }
    const ext = nodePath.extname(d.name).toLowerCase();
    if (IMAGE_EXTENSIONS.has(ext)) entries.push({ name: d.name, path: full, kind: 'image' });
    else if (ext === '.csv') entries.push({ name: d.name, path: full, kind: 'csv' });
    else if (ext === PROJECT_EXTENSION) entries.push({ name: d.name, path: full, kind: 'project' });
  }
  const order = { dir: 0, project: 1, csv: 2, image: 3 } as const;
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  entries.sort((a, b) => order[a.kind] - order[b.kind] || collator.compare(a.name, b.name));
  const parent = nodePath.dirname(dir);
  return { path: dir, parent: parent === dir ? null : parent, entries };
}

/** Project lifecycle: create, open, the bundled sample, recent projects, the file chooser. */
export function projectHandlers(
  ctx: CoreContext,
  setStore: (store: Store | null) => void,
): Pick<Handlers, ProjectMethods> {
  const recent = new RecentProjects(ctx.options.stateDir);

  function activate(store: Store): ProjectInfo {
    recoverInterruptedJobs(store.db);
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
