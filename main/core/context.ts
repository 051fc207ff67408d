import type { HostInfo } from '../../shared/contract/index.ts';
import { CoreError } from './errors.ts';
import type { EventBus } from './events.ts';
import type { JobManager } from './jobs/manager.ts';
import type { Store } from './store/open.ts';

export interface CoreOptions {
  host: HostInfo;
  /** Folder for the app's own state (recent projects, sample projects). */
  stateDir: string;
  /** Folder of bundled sample images (class-named subfolders). */
  sampleDir: string;
  /** better-sqlite3 binding built for another runtime (Electron). */
  nativeBinding?: string;
  /** Worker threads for decoding; default: one per core. */
  workers?: number;
}

/** What every part of the core gets: the open project, the event bus, the jobs. */
export interface CoreContext {
  readonly options: CoreOptions;
  readonly events: EventBus;
  readonly jobs: JobManager;
  /** The open project, or null. */
  store(): Store | null;
  /** The open project; throws `no_project` when none is open. */
  requireStore(): Store;
}

export function noProjectError(): CoreError {
  return new CoreError('no_project', 'No project is open. Create or open a project first.');
}
