/** The contract's import and jobs methods. */
import fs from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import { uploadBatchId, type Handlers } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { isOsLitter } from '../media/image-safety.ts';
import type { Store } from '../store/open.ts';
import { importReport, startImport } from './import.ts';

export { importReport, runImport, startImport, type ImportCounts, type ImportRequest } from './import.ts';

export type ImportMethods = 'import.start' | 'import.csv' | 'import.uploaded' | 'import.report' | 'jobs.list' | 'jobs.cancel';

/**
 * The folder where the browser host stores one batch of uploaded files (keeping their
 * relative paths); `import.uploaded` imports it. The batch id is checked again here, so no
 * id can point outside the uploads folder.
 */
export function uploadDir(store: Store, batchId: string): string {
  const parsed = uploadBatchId.safeParse(batchId);
  if (!parsed.success) throw new CoreError('invalid_input', parsed.error.issues[0]?.message ?? 'Invalid upload batch id.');
  return nodePath.join(store.dataDir, 'uploads', parsed.data);
}

function expandPath(path: string): string {
  const home = path === '~' || path.startsWith('~/') ? nodePath.join(os.homedir(), path.slice(1)) : path;
  return nodePath.resolve(home);
}

async function existing(path: string): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch {
    return false;
  }
}

export function importHandlers(ctx: CoreContext): Pick<Handlers, ImportMethods> {
  return {
    'import.start': async ({ paths, split }) => {
      ctx.requireStore();
      const resolved = paths.map(expandPath);
      // One missing path in a drop is reported in the import; nothing there at all is a mistake to say now.
      const found = await Promise.all(resolved.map(existing));
      if (!found.some(Boolean)) {
        throw new CoreError(
          'not_found',
          resolved.length === 1 ? `There is no file or folder at ${resolved[0]}.` : `None of these ${resolved.length} paths exists: ${resolved.slice(0, 3).join(', ')}${resolved.length > 3 ? ', …' : ''}.`,
        );
      }
      return { jobId: startImport(ctx, { paths: resolved, split }).id };
    },
    'import.csv': async ({ csvPath, split }) => {
      ctx.requireStore();
      const path = expandPath(csvPath);
      const stats = await fs.stat(path).catch(() => null);
      if (!stats) throw new CoreError('not_found', `There is no CSV file at ${path}.`);
      if (!stats.isFile()) throw new CoreError('invalid_input', `${path} is a folder; choose a CSV file of path,label rows.`);
      return { jobId: startImport(ctx, { csvPath: path, split }).id };
    },
    'import.uploaded': async ({ batchId, split }) => {
      const dir = uploadDir(ctx.requireStore(), batchId);
      let names: string[];
      try {
        names = await fs.readdir(dir);
      } catch {
        throw new CoreError('not_found', `No files were uploaded as batch ${batchId}.`);
      }
      // Each dropped item was stored at the top of the batch: folders keep their class subfolders.
      const paths = names
        .filter((name) => !isOsLitter(name, false) && !isOsLitter(name, true))
        .sort()
        .map((name) => nodePath.join(dir, name));
      if (!paths.length) throw new CoreError('invalid_input', `The upload batch ${batchId} holds no files.`);
      return { jobId: startImport(ctx, { paths, split }).id };
    },
    'import.report': ({ jobId }) => importReport(ctx.requireStore().db, jobId),
    'jobs.list': () => ctx.jobs.list(),
    'jobs.cancel': ({ jobId }) => {
      ctx.jobs.cancel(jobId);
      return null;
    },
  };
}
