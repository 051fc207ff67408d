/**
 * A real project in a temp folder for tests of the dataset handlers, with helpers to add
 * images by SQL (these tests need rows, not image files).
 */
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import type { EventMessage, Result } from '../../../shared/contract/index.ts';
import { parseParams, type Handlers, type MethodName, type ParamsOf, type ResultOf } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { toErrorInfo } from '../errors.ts';
import { EventBus } from '../events.ts';
import { openStore, type Store } from '../store/open.ts';
import { datasetHandlers, type DatasetMethods } from './dataset-handlers.ts';

export interface TestImage {
  path: string;
  status?: 'active' | 'excluded';
  split?: 'train' | 'val' | 'test';
}

export class TestProject {
  readonly dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-data-test-'));
  store: Store;
  readonly events = new EventBus();
  readonly emitted: EventMessage[] = [];
  readonly handlers: Pick<Handlers, DatasetMethods>;
  #images = 0;

  constructor() {
    this.store = openStore(nodePath.join(this.dir, 'test.seedbed'), { create: true });
    const context: CoreContext = {
      options: {
        host: { kind: 'cli', appVersion: 'test', nativeDialogs: false, uploads: false, platform: process.platform },
        stateDir: nodePath.join(this.dir, 'state'),
        sampleDir: nodePath.join(this.dir, 'sample'),
      },
      events: this.events,
      // The dataset handlers never start jobs.
      jobs: undefined as unknown as CoreContext['jobs'],
      store: () => this.store,
      requireStore: () => this.store,
    };
    this.events.on((m) => this.emitted.push(m));
    this.handlers = datasetHandlers(context);
  }

  get db() {
    return this.store.db;
  }

  /** Validates params as the hosts do, then calls the handler; returns the contract's result shape. */
  async call<M extends DatasetMethods>(method: M, params: ParamsOf<M>): Promise<Result<ResultOf<M>>> {
    const parsed = parseParams(method as MethodName, params);
    if (!parsed.ok) return parsed;
    try {
      const handler = this.handlers[method] as (p: unknown) => unknown;
      return { ok: true, value: (await handler(parsed.value)) as ResultOf<M> };
    } catch (err) {
      return { ok: false, error: toErrorInfo(err, () => {}) };
    }
  }

  /** Like `call`, but throws when the call fails. */
  async must<M extends DatasetMethods>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const result = await this.call(method, params);
    if (!result.ok) throw new Error(`${method} failed: ${result.error.code}: ${result.error.message}`);
    return result.value;
  }

  /** Inserts images (with a path row, and a split when given); returns their ids. */
  addImages(images: readonly TestImage[], at = 1_000): number[] {
    const insertImage = this.db.prepare(
      `INSERT INTO images (path, sha256, width, height, format, bytes, status, added_at)
       VALUES (@path, @sha, 320, 240, 'jpeg', 1000, @status, @at)`,
    );
    const insertPath = this.db.prepare(
      'INSERT INTO image_paths (path, image_id, size, mtime_ms, added_at) VALUES (@path, @id, 1000, 0, @at)',
    );
    const insertSplit = this.db.prepare(
      "INSERT INTO splits (image_id, split, source, updated_at) VALUES (@id, @split, 'imported', @at)",
    );
    return this.db.transaction(() =>
      images.map((image) => {
        const sha = (++this.#images).toString(16).padStart(64, '0');
        const id = Number(insertImage.run({ path: image.path, sha, status: image.status ?? 'active', at }).lastInsertRowid);
        insertPath.run({ path: image.path, id, at });
        if (image.split) insertSplit.run({ id, split: image.split, at });
        return id;
      }),
    )();
  }

  /** Labels images as an import would (source `imported`, no undo entry). */
  importLabels(imageIds: readonly number[], classId: number, at = 2_000): void {
    const insert = this.db.prepare(
      `INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (@imageId, @classId, 'imported', @at)
       ON CONFLICT(image_id) DO UPDATE SET class_id = excluded.class_id, source = 'imported', updated_at = excluded.updated_at`,
    );
    const history = this.db.prepare(
      `INSERT INTO label_history (image_id, class_id, class_name, source, at)
       VALUES (@imageId, @classId, (SELECT name FROM classes WHERE id = @classId), 'imported', @at)`,
    );
    this.db.transaction(() => {
      for (const imageId of imageIds) {
        insert.run({ imageId, classId, at });
        history.run({ imageId, classId, at });
      }
    })();
  }

  /** Every table an undo must put back, as plain rows, to compare states exactly. */
  snapshot(): Record<string, unknown[]> {
    return {
      images: this.db.prepare('SELECT id, status FROM images ORDER BY id').all(),
      labels: this.db.prepare('SELECT image_id, class_id, source, updated_at FROM labels ORDER BY image_id').all(),
      tags: this.db.prepare('SELECT image_id, key, value FROM tags ORDER BY image_id, key').all(),
      classes: this.db.prepare('SELECT id, name, colour, hotkey, position, created_at FROM classes ORDER BY id').all(),
    };
  }

  /** Closes the project file and opens it again, as a restart of the app would. */
  reopen(): void {
    this.store.close();
    this.store = openStore(this.store.path);
  }

  close(): void {
    this.store.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
