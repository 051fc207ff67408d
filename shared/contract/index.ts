/**
 * The one API between the studio's core and every host (Electron IPC, WebSocket, CLI).
 * Each method is declared once: its params schema (validated at the boundary) and its
 * result type. Each event likewise. Hosts are generated from `methods`.
 */
import { z } from 'zod';
import type { METHOD_NAMES } from './names.ts';
import {
  trainConfigPatchSchema,
  type BackboneInfo,
  type ExportResult,
  type ImagePrediction,
  type Prediction,
  type PredictFolderResult,
  type RunDetail,
  type RunEpochEvent,
  type RunSummary,
  type RuntimeInfo,
  type SplitAssignmentResult,
} from './training.ts';
import {
  findingActionSchema,
  findingKindSchema,
  findingsQuerySchema,
  FINDING_KINDS,
  type DatasetHealth,
  type FindingsPage,
} from './cleaning.ts';

import { augmentPolicySchema, augmentSettingsSchema, type AugmentPreview } from './augment.ts';
import { balanceConfigSchema, type BalancePreview } from './balance.ts';
import {
  EXPLAIN_METHODS,
  type CrossValidationReport,
  type EvaluationResult,
  type Explanation,
  type NeighbourImage,
  type RobustnessReport,
  type RunCalibration,
} from './evaluation.ts';
import { tuneStartSchema, type TuneDetail, type TuneSummary } from './tune.ts';

export * from './training.ts';
export * from './cleaning.ts';
export * from './augment.ts';
export * from './balance.ts';
export * from './evaluation.ts';
export * from './tune.ts';

// ---------- shared vocabulary ----------

export const SPLITS = ['train', 'val', 'test'] as const;
export const splitSchema = z.enum(SPLITS);
export type Split = z.infer<typeof splitSchema>;

export const imageStatusSchema = z.enum(['active', 'excluded']);
export type ImageStatus = z.infer<typeof imageStatusSchema>;

/** 'model': the user accepted a model's prediction (model-assisted). */
export type LabelSource = 'human' | 'imported' | 'pseudo' | 'model';

const id = z
  .number({ error: 'Expected an id (a whole number).' })
  .int('Ids are whole numbers.')
  .positive('Ids are positive numbers.');
const ids = z.array(id).max(100_000);
const path = z.string().min(1).max(4096);
const className = z
  .string()
  .trim()
  .min(1, 'A class needs a name.')
  .max(80, 'Class names are at most 80 characters.');
const colour = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'Colours are written as #rrggbb.');
const tagKey = z
  .string()
  .trim()
  .min(1, 'A tag needs a key.')
  .max(64)
  .regex(/^[^=\s][^=]*$/, 'Tag keys cannot contain "=" or start with a space.');

// ---------- DTOs ----------

export interface ProjectInfo {
  /** Absolute path of the .seedbed file. */
  path: string;
  /** File name without extension, for titles. */
  name: string;
  /** Folder beside the project file that holds derived files (thumbnails, models). */
  dataDir: string;
  schemaVersion: number;
  isSample: boolean;
}

export interface ClassInfo {
  id: number;
  name: string;
  colour: string;
  /** 1–9, or null when the class has no key. */
  hotkey: number | null;
  position: number;
}

export interface ImageRow {
  id: number;
  /** The first path this content was imported from. */
  path: string;
  fileName: string;
  sha256: string;
  width: number;
  height: number;
  format: string;
  bytes: number;
  status: ImageStatus;
  classId: number | null;
  split: Split | null;
  /** The project's current model's prediction (the latest run that predicted), or null. */
  prediction: Prediction | null;
  /** The image this one was made from (a materialised augmented copy), or null for an original. */
  derivedFrom: number | null;
}

export interface LabelEvent {
  at: number;
  className: string | null;
  source: LabelSource;
}

export interface ImageDetail extends ImageRow {
  /** Every path this content was found at. */
  paths: string[];
  tags: Record<string, string>;
  labelHistory: LabelEvent[];
  labelSource: LabelSource | null;
  addedAt: number;
}

export const galleryFilterSchema = z.object({
  /** Images whose label is any of these classes. Combined with `unlabeled` by OR; an empty list means no class filter. */
  classIds: z.array(id).max(1000).optional(),
  unlabeled: z.boolean().optional(),
  /** `none` = images without a split; an empty list means no split filter. */
  splits: z.array(z.enum(['train', 'val', 'test', 'none'])).max(4).optional(),
  /** Default `active`: excluded images are hidden unless asked for. */
  status: z.enum(['active', 'excluded', 'all']).optional(),
  /** Case-insensitive substring of the file path. */
  search: z.string().max(500).optional(),
  /** `key=value`, or `key` alone for any value. */
  tag: z
    .object({ key: z.string().min(1).max(64), value: z.string().max(256).optional() })
    .optional(),
  /** Images the current model predicts as any of these classes. */
  predictedClassIds: z.array(id).max(1000).optional(),
  /** Prediction confidence within [min, max] (0–1); images without a prediction drop out. */
  confidence: z.object({ min: z.number().min(0).max(1).optional(), max: z.number().min(0).max(1).optional() }).optional(),
  /** Labelled images whose prediction differs from their label. */
  disagree: z.boolean().optional(),
  /** Gallery order: by path (default), or by prediction confidence, least sure first or most sure first. */
  sort: z.enum(['path', 'confidence-asc', 'confidence-desc']).optional(),
});
export type GalleryFilter = z.infer<typeof galleryFilterSchema>;

export interface GalleryPage {
  total: number;
  offset: number;
  rows: ImageRow[];
}

export interface SplitCounts {
  total: number;
  train: number;
  val: number;
  test: number;
  none: number;
}

export interface DatasetSummary {
  /** All images, excluded included. */
  images: number;
  active: number;
  excluded: number;
  /** Active images without a label. */
  unlabeled: number;
  /** Active images per class id. */
  byClass: Record<number, SplitCounts>;
  /** Active images per split. */
  bySplit: SplitCounts;
  /** Tag keys → their values → how many active images carry that value (for filters). */
  tags: Record<string, Record<string, number>>;
  /** Images made from another one (materialised augmented copies), excluded ones included. */
  derived: number;
}

export interface HistoryState {
  canUndo: boolean;
  canRedo: boolean;
  /** What Ctrl+Z would undo, in words ("Label 12 images as glass"). */
  undoLabel: string | null;
  redoLabel: string | null;
}

export type JobKind = 'import' | 'embed' | 'train' | 'predict' | 'download' | 'clean' | 'augment' | 'robustness' | 'crossval' | 'tune';
export type JobStatus = 'running' | 'done' | 'failed' | 'cancelled';

export interface JobInfo {
  id: string;
  kind: JobKind;
  status: JobStatus;
  title: string;
  done: number;
  total: number;
  /** Items per second over the job so far. */
  rate: number;
  /** Seconds left at the current rate, or null when unknown. */
  etaSeconds: number | null;
  startedAt: number;
  finishedAt: number | null;
  error: string | null;
}

export interface LabelConflict {
  path: string;
  /** The class this file's folder (or CSV row) names. */
  folderClass: string;
  /** The label the image kept. */
  keptClass: string;
}

export interface SkippedFile {
  path: string;
  reason: string;
}

export interface ImportReport {
  jobId: string;
  status: JobStatus;
  /** Files looked at (images and non-images, litter excluded). */
  scanned: number;
  /** New images added. */
  imported: number;
  /** Files whose content was already in the project (a new path recorded, or nothing new). */
  duplicates: number;
  /** Files already imported from the same path with the same content. */
  unchanged: number;
  skipped: SkippedFile[];
  /**
   * Files found per class (class folder or CSV label) by this import, duplicates and unchanged
   * files included: the dataset as the user organised it on disk.
   */
  classes: Record<string, number>;
  /**
   * Files whose content is already in the project under another label (the same image in two
   * class folders): the image keeps its first label; the user should decide.
   */
  conflicts: LabelConflict[];
  elapsedSeconds: number;
}

export interface DirEntry {
  name: string;
  path: string;
  kind: 'dir' | 'image' | 'csv' | 'project';
}

export interface DirListing {
  path: string;
  parent: string | null;
  entries: DirEntry[];
  /** Images in this folder, all of them (only the first few thousand are in `entries`). */
  imageCount: number;
}

export interface HostInfo {
  kind: 'electron' | 'web' | 'cli';
  appVersion: string;
  /** True where the host can show native open/save dialogs. */
  nativeDialogs: boolean;
  /** True where dropped files can be uploaded (browser host). */
  uploads: boolean;
  platform: string;
}

// ---------- methods ----------

const importSplit = z.enum(['auto', 'train', 'val', 'test', 'none']);
export type ImportSplit = z.infer<typeof importSplit>;

/** Declares a method: `result<R>()(paramsSchema)` keeps the params type inferred. */
function result<R>() {
  return <P extends z.ZodType>(params: P) => ({ params, result: undefined as unknown as R });
}
const none = z.object({}).strict();
const jobId = z.string().min(1).max(100);
export const uploadBatchId = z.string().regex(/^[a-z0-9-]{8,64}$/, 'Upload batch ids are 8–64 lowercase letters, digits or dashes.');
const pickPurpose = z.enum(['import-folder', 'import-files', 'import-csv', 'open-project', 'new-project', 'export-folder', 'models-folder', 'report-folder', 'card-folder', 'eval-folder']);
export type PickPurpose = z.infer<typeof pickPurpose>;

export const methods = {
  'host.info': result<HostInfo>()(none),
  /** Native dialog (Electron only); null when cancelled. */
  'host.pickPaths': result<string[] | null>()(z.object({ purpose: pickPurpose }).strict()),
  /** Lists a folder on the machine that runs the core (the browser host's file chooser). */
  'files.list': result<DirListing>()(z.object({ path: path.optional() }).strict()),

  'project.current': result<ProjectInfo | null>()(none),
  'project.create': result<ProjectInfo>()(z.object({ path }).strict()),
  'project.open': result<ProjectInfo>()(z.object({ path }).strict()),
  /** Copies the bundled sample (30 TrashNet photos) into a new project and opens it. */
  'project.openSample': result<ProjectInfo>()(none),
  'project.close': result<null>()(none),
  'project.recent': result<string[]>()(none),

  'dataset.summary': result<DatasetSummary>()(none),

  'images.query': result<GalleryPage>()(
    z
      .object({
        filter: galleryFilterSchema,
        offset: z.number().int().min(0),
        limit: z.number().int().min(1).max(2000),
      })
      .strict(),
  ),
  /** Ids of every image matching the filter, in gallery order (for "select all"). */
  'images.ids': result<number[]>()(z.object({ filter: galleryFilterSchema }).strict()),
  'images.get': result<ImageDetail>()(z.object({ id }).strict()),
  /** Position of an image in the filtered gallery order, or null when the filter hides it. */
  'images.indexOf': result<number | null>()(z.object({ id, filter: galleryFilterSchema }).strict()),
  'images.exclude': result<{ changed: number }>()(z.object({ imageIds: ids }).strict()),
  'images.restore': result<{ changed: number }>()(z.object({ imageIds: ids }).strict()),

  /** classId null removes the label. */
  'labels.set': result<{ changed: number }>()(
    z.object({ imageIds: ids, classId: id.nullable() }).strict(),
  ),

  /** value null removes the tag. */
  'tags.set': result<{ changed: number }>()(
    z.object({ imageIds: ids, key: tagKey, value: z.string().trim().max(256).nullable() }).strict(),
  ),

  'classes.list': result<ClassInfo[]>()(none),
  'classes.create': result<ClassInfo>()(z.object({ name: className, colour: colour.optional() }).strict()),
  'classes.update': result<ClassInfo>()(
    z.object({ id, name: className.optional(), colour: colour.optional() }).strict(),
  ),
  /** The full list of class ids in their new order; hotkeys 1–9 follow the order. */
  'classes.reorder': result<ClassInfo[]>()(z.object({ ids }).strict()),
  /** Moves every image of `sourceId` to `targetId` and deletes the source class. */
  'classes.merge': result<{ moved: number }>()(z.object({ sourceId: id, targetId: id }).strict()),
  /** Deletes a class; its images become unlabeled. */
  'classes.delete': result<{ unlabeled: number }>()(z.object({ id }).strict()),

  'history.state': result<HistoryState>()(none),
  /** Returns what was undone, in words, or null when there was nothing to undo. */
  'history.undo': result<string | null>()(none),
  'history.redo': result<string | null>()(none),

  /**
   * Imports folders and files. A folder's class-named subfolders label their images, and a
   * top level of train/val/test folders assigns splits (split `auto`). A given folder that
   * holds images directly and has no sub-folder holding images (at any depth) is a class
   * folder: its images are labelled with the folder's own name, so dropping `glass/` and
   * `metal/` together makes two classes; one named train/val/test gives that split (under
   * `auto`) and no class instead. A folder holding both loose images and image sub-folders
   * stays a dataset root: its loose images import unlabeled. A file given on its own is
   * unlabeled. The same rule applies to the top-level items of `import.uploaded`.
   */
  'import.start': result<{ jobId: string }>()(
    z.object({ paths: z.array(path).min(1).max(10_000), split: importSplit }).strict(),
  ),
  /** Imports the images a CSV of `path,label[,split]` lists (paths relative to the CSV). */
  'import.csv': result<{ jobId: string }>()(z.object({ csvPath: path, split: importSplit }).strict()),
  /**
   * Imports files the browser host received by upload (drag and drop in a browser, where
   * the page cannot see file paths): the host stored them under the project's uploads folder
   * in `batchId`, keeping their relative paths, so class folders still label them.
   */
  'import.uploaded': result<{ jobId: string }>()(
    z.object({ batchId: uploadBatchId, split: importSplit }).strict(),
  ),
  'import.report': result<ImportReport>()(z.object({ jobId }).strict()),

  'jobs.list': result<JobInfo[]>()(none),
  'jobs.cancel': result<null>()(z.object({ jobId }).strict()),

  /** The MobileNet backbones Seedbed knows, and where each one's weights are. */
  'ml.backbones': result<BackboneInfo[]>()(none),
  /** Which TensorFlow.js backend runs, on how many workers. */
  'ml.runtime': result<RuntimeInfo>()(none),
  /** A folder holding backbone weights (<id>/model.json); null forgets it. Remembered across launches. */
  'ml.setModelsFolder': result<BackboneInfo[]>()(z.object({ path: path.nullable() }).strict()),
  /** Downloads a backbone from its official URL into the app's model cache (only when asked). */
  'ml.download': result<{ jobId: string }>()(z.object({ backbone: z.string().min(1).max(100) }).strict()),

  /** Gives labelled images without a split one: stratified per class, seeded, stable, leakage-safe. */
  'splits.assign': result<SplitAssignmentResult>()(
    z.object({ seed: z.number().int().min(0).max(2 ** 31 - 1).optional(), reassign: z.boolean().optional() }).strict(),
  ),

  /** Starts a training run: splits, embeddings (cached), head training, optional fine-tuning, test metrics. */
  'train.start': result<{ jobId: string; runId: number }>()(z.object({ config: trainConfigPatchSchema }).strict()),
  'runs.list': result<RunSummary[]>()(none),
  'runs.get': result<RunDetail>()(z.object({ runId: id }).strict()),
  'runs.rename': result<RunSummary>()(z.object({ runId: id, name: z.string().trim().min(1).max(120) }).strict()),
  /** Deletes a run, its model files and its predictions. */
  'runs.delete': result<null>()(z.object({ runId: id }).strict()),

  /** Predicts images of the project with a run; the gallery then shows its predictions. */
  'predict.start': result<{ jobId: string }>()(
    z.object({ runId: id, scope: z.enum(['unlabeled', 'all']) }).strict(),
  ),
  /** Predicts every image in a folder on disk (nothing is imported). */
  'predict.folder': result<PredictFolderResult>()(z.object({ runId: id, dir: path }).strict()),
  /** One image's prediction with every class's probability, or null when it has none. */
  'predictions.get': result<ImagePrediction | null>()(z.object({ imageId: id }).strict()),
  /** Labels each image with its current prediction (label source: model). Undoable. */
  'predictions.accept': result<{ changed: number }>()(z.object({ imageIds: ids }).strict()),

  /** Writes the run's model (backbone + head, one TF.js layers model), labels.json and metadata.json into a folder. */
  'export.run': result<ExportResult>()(z.object({ runId: id, dir: path }).strict()),

  /**
   * Runs the cleaning detectors (all, or `kinds`) as one job. Findings the user dismissed or
   * fixed keep their state; open ones that are no longer found are removed.
   */
  'clean.start': result<{ jobId: string }>()(
    z
      .object({
        kinds: z.array(findingKindSchema).min(1).max(FINDING_KINDS.length).optional(),
        backbone: z.string().min(1).max(100).optional(),
      })
      .strict(),
  ),
  /** Findings, most severe first within a kind, with their images. */
  'findings.list': result<FindingsPage>()(findingsQuerySchema),
  /**
   * Acts on findings, as one undoable step: keep (a copy: `imageId`, default the suggested
   * one; the other copies are excluded), exclude (all its images, or `imageId`), relabel (to
   * the suggested class), dismiss (not a problem), reopen.
   */
  'findings.act': result<{ changed: number; findings: number }>()(
    z.object({ findingIds: ids.min(1), action: findingActionSchema, imageId: id.optional() }).strict(),
  ),
  /** Counts, balance, sizes, formats and open findings: the dataset's health at a glance. */
  'health.summary': result<DatasetHealth>()(none),
  /** Writes the health summary as one self-contained HTML file into a folder. */
  'health.report': result<{ path: string; bytes: number }>()(z.object({ dir: path }).strict()),

  /**
   * Augmented variants of one image under a policy, exactly as training sees them: view v of
   * the image for the seed (default 1) is the same pixels here, in training and in a copy.
   */
  'augment.preview': result<AugmentPreview>()(
    z
      .object({
        imageId: id,
        policy: augmentPolicySchema,
        seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
        count: z.number().int().min(1).max(24).optional(),
      })
      .strict(),
  ),
  /**
   * Writes `copies` augmented copies of each training image (of `classIds`, default all) into
   * the project folder as derived images: labelled like their source, in training only, shown
   * as derived in the gallery. A job; its report is the job's result.
   */
  'augment.materialise': result<{ jobId: string }>()(
    z
      .object({
        policy: augmentPolicySchema,
        copies: z.number().int().min(1).max(8),
        seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
        classIds: z.array(id).max(1000).optional(),
      })
      .strict(),
  ),
  /** Removes every derived image and its file; their sources are untouched. */
  'augment.removeDerived': result<{ removed: number }>()(none),
  /**
   * How good a finished run is on the project's test (default) or validation images: headline
   * metrics with bootstrap intervals, per-class metrics and curves, the confusion matrix,
   * calibration before and after temperature scaling, abstention coverage, per-tag slices.
   */
  'eval.run': result<EvaluationResult>()(
    z.object({ runId: id, split: z.enum(['test', 'val']).optional(), /** A folder of class sub-folders instead of a split. */ dir: path.optional() }).strict(),
  ),
  /** Why the run decided what it did for one image: a Grad-CAM or occlusion heatmap (computed in a worker, cached). */
  'explain.image': result<Explanation>()(
    z.object({ runId: id, imageId: id, method: z.enum(EXPLAIN_METHODS).optional(), className: z.string().min(1).max(200).optional() }).strict(),
  ),
  /** The training images most like this one in the run's embedding space, with their labels. */
  'eval.neighbours': result<NeighbourImage[]>()(z.object({ runId: id, imageId: id, count: z.number().int().min(1).max(50).optional() }).strict()),
  /** Accuracy under common corruptions (and FGSM where gradients exist), as a job; the report is stored with the run. */
  'robustness.start': result<{ jobId: string }>()(z.object({ runId: id }).strict()),
  'robustness.get': result<RobustnessReport | null>()(z.object({ runId: id }).strict()),
  /** k-fold cross-validation on train + val with the run's config, as a job; stored with the run. */
  'crossval.start': result<{ jobId: string }>()(z.object({ runId: id, folds: z.number().int().min(2).max(20).optional() }).strict()),
  'crossval.get': result<CrossValidationReport | null>()(z.object({ runId: id }).strict()),
  /** Sets the temperature and the abstention threshold a run predicts and exports with. */
  'runs.setCalibration': result<RunCalibration>()(
    z.object({ runId: id, temperature: z.number().positive().max(100).optional(), threshold: z.number().min(0).max(1).optional() }).strict(),
  ),
  /**
   * Writes the run's model card: one self-contained, printable HTML file, named after the run
   * in `dir`, or exactly `file` (an .html path).
   */
  'report.write': result<{ path: string; bytes: number }>()(
    z
      .object({ runId: id, dir: path.optional(), file: path.regex(/\.html?$/i, { error: 'The model card is an HTML file: its name must end in .html.' }).optional() })
      .strict()
      .refine((p) => (p.dir === undefined) !== (p.file === undefined), { error: 'Give a folder (dir) or a file (file) for the model card, not both.' }),
  ),
  /** What a run with these rebalancing and augmentation settings would train on, per class, before it trains. */
  'balance.preview': result<BalancePreview>()(
    z
      .object({
        balance: balanceConfigSchema,
        augment: augmentSettingsSchema,
        seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
      })
      .strict(),
  ),
  /**
   * Auto-tune: a hyperparameter search on cached embeddings, scored on validation only, as a
   * job. Trials are stored as they finish (event 'tune.changed'); the search can be resumed.
   */
  'tune.start': result<{ jobId: string; searchId: number }>()(tuneStartSchema),
  'tune.list': result<TuneSummary[]>()(none),
  'tune.get': result<TuneDetail>()(z.object({ searchId: id }).strict()),
  /** Continues a paused, interrupted or failed search where its last trial ended. */
  'tune.resume': result<{ jobId: string }>()(z.object({ searchId: id }).strict()),
  /** Stops a running search; it keeps its trials and can be resumed. */
  'tune.cancel': result<{ cancelled: boolean }>()(z.object({ searchId: id }).strict()),
  /** Trains an ordinary run with a trial's settings (default: the best trial). */
  'tune.promote': result<{ jobId: string; runId: number }>()(z.object({ searchId: id, trial: z.number().int().min(0).optional() }).strict()),
  'tune.delete': result<{ deleted: boolean }>()(z.object({ searchId: id }).strict()),
} as const;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type ParamsOf<M extends MethodName> = z.input<Methods[M]['params']>;
export type ResultOf<M extends MethodName> = Methods[M]['result'];

/** A host's full implementation of the contract. */
export type Handlers = { [M in MethodName]: (params: z.output<Methods[M]['params']>) => Promise<ResultOf<M>> | ResultOf<M> };

// ---------- events ----------

export interface Events {
  'job.progress': JobInfo;
  'job.done': JobInfo;
  /** Images, labels, tags, splits or classes changed; the renderer refreshes what it shows. */
  'dataset.changed': { reason: string };
  'project.changed': ProjectInfo | null;
  'history.changed': HistoryState;
  /** A training run finished an epoch. */
  'run.epoch': RunEpochEvent;
  /** A run was created, finished, renamed or deleted, or its predictions changed. */
  'runs.changed': { runId: number | null };
  /** Findings were added, removed or changed state. */
  'findings.changed': { reason: string };
  /** A search started, finished a trial, or ended. */
  'tune.changed': { searchId: number };
}
export type EventName = keyof Events;
/** An event on the wire; checking `event` narrows `data`. */
export type EventMessage = { [E in EventName]: { event: E; data: Events[E] } }[EventName];

// ---------- results and errors ----------

export const ERROR_CODES = [
  'invalid_input',
  'not_found',
  'no_project',
  'project_too_new',
  'project_unreadable',
  'conflict',
  'io_error',
  'unsupported',
  'busy',
  'unauthorized',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorInfo {
  code: ErrorCode;
  /** A sentence a user can act on. */
  message: string;
  detail?: unknown;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: ErrorInfo };

/** Wire shape of a request over IPC and WebSocket. */
export interface RequestMessage {
  id: number;
  method: string;
  params: unknown;
}
export interface ResponseMessage {
  id: number;
  result: Result<unknown>;
}

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(methods, name);
}

/** Validates raw params for a method; returns the parsed params or a user-readable error. */
export function parseParams<M extends MethodName>(
  name: M,
  raw: unknown,
): Result<z.output<Methods[M]['params']>> {
  const parsed = methods[name].params.safeParse(raw ?? {});
  if (parsed.success) return { ok: true, value: parsed.data as z.output<Methods[M]['params']> };
  const first = parsed.error.issues[0];
  const where = first && first.path.length ? ` (${first.path.join('.')})` : '';
  return {
    ok: false,
    error: {
      code: 'invalid_input',
      message: `${first?.message ?? 'Invalid input'}${where}`,
      detail: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    },
  };
}

/** Names of the preload bridge: one function per method, plus `on` for events. */
export const EVENT_NAMES: EventName[] = [
  'job.progress',
  'job.done',
  'dataset.changed',
  'project.changed',
  'history.changed',
  'run.epoch',
  'runs.changed',
  'findings.changed',
  'tune.changed',
];

export { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, MEDIA_SCHEME, METHOD_NAMES } from './names.ts';

/** Compile-time check: names.ts lists every method (its `satisfies` checks the other way). */
type UnlistedMethod = Exclude<MethodName, (typeof METHOD_NAMES)[number]>;
export const METHOD_NAMES_COMPLETE: [UnlistedMethod] extends [never] ? true : UnlistedMethod = true;
