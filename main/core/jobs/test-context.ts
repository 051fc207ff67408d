/**
 * A CoreContext for tests of jobs, import and media, built from the real parts (event bus,
 * project store, job manager) without the rest of the core. Not used by the app.
 */
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import type { EventMessage, EventName, Events } from '../../../shared/contract/index.ts';
import { noProjectError, type CoreContext, type CoreOptions } from '../context.ts';
import { EventBus } from '../events.ts';
import { openStore, type Store } from '../store/open.ts';
import { JobManager } from './manager.ts';

export class TestContext implements CoreContext {
  readonly dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-jobs-test-'));
  readonly events = new EventBus();
  readonly emitted: EventMessage[] = [];
  readonly options: CoreOptions;
  readonly jobs: JobManager;
  #store: Store | null = null;

  constructor(options: { workers?: number } = {}) {
    this.options = {
      host: { kind: 'cli', appVersion: 'test', nativeDialogs: false, uploads: false, platform: process.platform },
      stateDir: nodePath.join(this.dir, 'state'),
      sampleDir: nodePath.join(this.dir, 'sample'),
      workers: options.workers ?? 2,
    };
    this.jobs = new JobManager(this);
    this.events.on((m) => this.emitted.push(m));
  }

  store(): Store | null {
    return this.#store;
  }

  requireStore(): Store {
    if (!this.#store) throw noProjectError();
    return this.#store;
  }

  /** Creates (or reopens) a project in the temp folder and makes it the open one. */
  openProject(name = 'test.seedbed'): Store {
    const path = nodePath.join(this.dir, name);
    this.closeProject();
    this.#store = openStore(path, { create: !fs.existsSync(path) });
    return this.#store;
  }

  /** As the core does when a project closes: running jobs are cancelled, then the file closes. */
  closeProject(): void {
    if (!this.#store) return;
    this.jobs.cancelAll();
    this.#store.close();
    this.#store = null;
  }

  /** Events of one kind emitted so far. */
  eventsOf<E extends EventName>(event: E): Events[E][] {
    return this.emitted.filter((m) => m.event === event).map((m) => m.data as Events[E]);
  }

  async close(): Promise<void> {
    await this.jobs.shutdown();
    this.closeProject();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
