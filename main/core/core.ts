import {
  isMethodName,
  parseParams,
  type Handlers,
  type MethodName,
  type Result,
} from '../../shared/contract/index.ts';
import { noProjectError, type CoreContext, type CoreOptions } from './context.ts';
import { toErrorInfo } from './errors.ts';
import { EventBus } from './events.ts';
import { JobManager } from './jobs/manager.ts';
import type { Store } from './store/open.ts';
import { projectHandlers } from './project.ts';
import { datasetHandlers } from './data/dataset-handlers.ts';
import { importHandlers } from './data/import-handlers.ts';
import { mlHandlers } from './ml/ml-handlers.ts';
import { cleanHandlers } from './clean/clean-handlers.ts';
import { augmentHandlers } from './augment/augment-handlers.ts';
import { exportRun } from './ml/export.ts';
import { evalHandlers } from './eval/eval-handlers.ts';
import { tuneHandlers } from './tune/tune-handlers.ts';
import { resolveMedia, type MediaFile, type MediaKind } from './media/media-files.ts';

/** The studio's behaviour, host-agnostic: hosts call `dispatch` and forward `events`. */
export class Core implements CoreContext {
  readonly events = new EventBus();
  readonly jobs: JobManager;
  readonly handlers: Handlers;
  #store: Store | null = null;

  constructor(readonly options: CoreOptions) {
    this.jobs = new JobManager(this);
    this.handlers = {
      'host.info': () => options.host,
      'host.pickPaths': () => null,
      ...projectHandlers(this, (store) => this.#setStore(store)),
      ...datasetHandlers(this),
      ...importHandlers(this),
      ...mlHandlers(this),
      ...cleanHandlers(this),
      ...augmentHandlers(this),
      ...evalHandlers(this),
      ...tuneHandlers(this),
      'export.run': ({ runId, dir }) => exportRun(this, runId, dir, options.host.appVersion),
    };
  }

  store(): Store | null {
    return this.#store;
  }

  requireStore(): Store {
    if (!this.#store) throw noProjectError();
    return this.#store;
  }

  #setStore(store: Store | null): void {
    if (this.#store && this.#store !== store) {
      this.jobs.cancelAll();
      this.#store.close();
    }
    this.#store = store;
  }

  /** Validates and runs one method; never throws. */
  async dispatch(method: string, rawParams: unknown): Promise<Result<unknown>> {
    if (!isMethodName(method)) {
      return { ok: false, error: { code: 'invalid_input', message: `Unknown method "${method}".` } };
    }
    const parsed = parseParams(method, rawParams);
    if (!parsed.ok) return parsed;
    try {
      const handler = this.handlers[method] as (p: unknown) => unknown;
      return { ok: true, value: (await handler(parsed.value)) ?? null };
    } catch (err) {
      return { ok: false, error: toErrorInfo(err) };
    }
  }

  /**
   * The file to serve for an image: its thumbnail, or a display-sized preview (EXIF
   * orientation applied, any format turned into one a browser shows). Only images of the
   * open project resolve; anything else is `not_found`.
   */
  media(kind: MediaKind, imageId: number): Promise<MediaFile> {
    return resolveMedia(this, kind, imageId);
  }

  /** Replaces a handler (hosts add native dialogs this way). */
  override<M extends MethodName>(method: M, handler: Handlers[M]): void {
    (this.handlers as Record<MethodName, unknown>)[method] = handler;
  }

  async close(): Promise<void> {
    await this.jobs.shutdown();
    this.#setStore(null);
  }
}
