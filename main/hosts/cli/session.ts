import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import type { HostInfo, MethodName, ParamsOf, ProjectInfo, ResultOf } from '../../../shared/contract/index.ts';
import type { Core } from '../../core/core.ts';
import { appVersion, defaultSampleDir, defaultStateDir } from '../app-paths.ts';

/** The command could not run; `message` is the one sentence the user sees on stderr. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** A core for a command-line run, with the app's usual state folder and sample images. */
export async function createCore(kind: 'cli' | 'web'): Promise<Core> {
  // Loaded on demand so `--help` and argument errors never wait for SQLite or sharp.
  const { Core } = await import('../../core/core.ts');
  const host: HostInfo = {
    kind,
    appVersion: appVersion(),
    nativeDialogs: false,
    uploads: kind === 'web',
    platform: process.platform,
  };
  return new Core({ host, stateDir: defaultStateDir(), sampleDir: defaultSampleDir() });
}

/** Calls the core; an error result becomes a CliFailure carrying the core's own sentence. */
export async function call<M extends MethodName>(core: Core, method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
  const result = await core.dispatch(method, params);
  if (!result.ok) throw new CliFailure(result.error.message);
  return result.value as ResultOf<M>;
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? nodePath.join(os.homedir(), path.slice(1)) : path;
}

/** The project file a `--project` argument names (`birds` finds `birds.seedbed`). */
export function resolveProjectPath(arg: string): string {
  const path = nodePath.resolve(expandHome(arg));
  if (!fs.existsSync(path) && !path.endsWith('.seedbed') && fs.existsSync(`${path}.seedbed`)) return `${path}.seedbed`;
  return path;
}

/** Opens the project, or makes it when `create` is set and there is none yet. */
export async function openProject(core: Core, arg: string, create: boolean): Promise<ProjectInfo> {
  const path = resolveProjectPath(arg);
  let stat: fs.Stats | null = null;
  try {
    stat = fs.statSync(path);
  } catch {
    stat = null;
  }
  if (stat?.isDirectory()) {
    throw new CliFailure(`${path} is a folder; --project needs a project file, such as ${nodePath.join(path, 'project.seedbed')}.`);
  }
  if (stat) return call(core, 'project.open', { path });
  if (!create) {
    throw new CliFailure(`There is no project at ${path}; make one with \`seedbed import FOLDER --project ${arg}\`.`);
  }
  return call(core, 'project.create', { path });
}

/** Writes text and resolves once it is handed to the OS, so exiting next loses nothing. */
export function writeFully(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    stream.write(text, () => resolve());
  });
}

/** "2,527" */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** "1 file" / "3 files" */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}
