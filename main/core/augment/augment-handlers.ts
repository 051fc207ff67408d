/**
 * The contract's augmentation and rebalancing methods: the live preview, the per-class preview
 * of a run's plan, materialised copies and their removal.
 */
import type { Database } from 'better-sqlite3';
import type { AugmentPolicy, AugmentPreview, AugmentSettings } from '../../../shared/contract/augment.ts';
import type { BalanceConfig, BalancePreview, ClassSplitCounts } from '../../../shared/contract/balance.ts';
import type { Handlers } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { decodePool } from '../media/decode-pool.ts';
import { imageSources } from '../media/media-files.ts';
import { trainingSet } from '../ml/training.ts';
import { removeDerived, startMaterialise } from './materialise.ts';
import { planRun } from './run-plan.ts';

export type AugmentMethods = 'augment.preview' | 'augment.materialise' | 'augment.removeDerived' | 'balance.preview';

const dataUrl = (jpeg: Uint8Array) => `data:image/jpeg;base64,${Buffer.from(jpeg).toString('base64')}`;

/** View 0 … count − 1 of an image under the policy, made in a decode worker by the code training uses. */
export async function augmentPreview(ctx: CoreContext, imageId: number, policy: AugmentPolicy, seed = 1, count = 12): Promise<AugmentPreview> {
  const started = performance.now();
  const image = imageSources(ctx.requireStore().db, imageId);
  const answer = await decodePool(ctx).decode({
    type: 'augment-preview',
    sources: image.sources,
    sha256: image.sha256,
    policy,
    seed,
    views: Array.from({ length: count }, (_, i) => i),
    quality: 85,
  });
  if (answer.type === 'unreadable') throw new CoreError('io_error', `Seedbed cannot preview ${image.sources[0]}: ${answer.reason}.`);
  return {
    imageId,
    fileName: image.fileName,
    size: 224,
    original: dataUrl(answer.original),
    tiles: answer.tiles.map((t, view) => ({ view, dataUrl: dataUrl(t) })),
    ms: Math.round(performance.now() - started),
  };
}

/** Labelled active images per class and split now, derived images apart, in class order. */
export function classSplitCounts(db: Database): ClassSplitCounts[] {
  const rows = db
    .prepare(
      `SELECT c.name, c.colour, coalesce(s.split, 'none') AS split, i.derived_from IS NOT NULL AS derived, count(i.id) AS n
       FROM classes c
       LEFT JOIN labels l ON l.class_id = c.id
       LEFT JOIN images i ON i.id = l.image_id AND i.status = 'active'
       LEFT JOIN splits s ON s.image_id = i.id
       GROUP BY c.id, split, derived
       ORDER BY c.position, c.id`,
    )
    .all() as { name: string; colour: string; split: 'train' | 'val' | 'test' | 'none'; derived: number; n: number }[];
  const out = new Map<string, ClassSplitCounts>();
  for (const r of rows) {
    const entry = out.get(r.name) ?? { name: r.name, colour: r.colour, train: 0, val: 0, test: 0, none: 0, derived: 0 };
    out.set(r.name, entry);
    if (!r.n) continue;
    // A derived image only ever trains: one whose source sits in val or test is not counted anywhere.
    if (r.derived) {
      if (r.split === 'train') entry.derived += r.n;
    } else entry[r.split] += r.n;
  }
  return [...out.values()];
}

/** What a run with these settings would train on, from the training split as it stands. */
export function balancePreview(db: Database, balance: BalanceConfig, augment: AugmentSettings, seed = 1): BalancePreview {
  const { classes, images } = trainingSet(db);
  const counts = classSplitCounts(db);
  const train = images.filter((i) => i.split === 'train');
  const names = classes.map((c) => c.name);
  const planned = planRun(train, names, { balance, augment, seed });
  const notes: string[] = [];
  const unsplit = counts.reduce((a, c) => a + c.none, 0);
  if (unsplit > 0) notes.push(`${unsplit} labelled image${unsplit === 1 ? ' has' : 's have'} no split yet; a run gives ${unsplit === 1 ? 'it one' : 'them one'} first, so its counts will be a little higher.`);
  const noTrain = counts.filter((c) => c.train + c.derived === 0 && c.val + c.test + c.none > 0).map((c) => c.name);
  if (noTrain.length) notes.push(`${noTrain.join(', ')} ${noTrain.length === 1 ? 'has' : 'have'} no training images, so a run leaves ${noTrain.length === 1 ? 'it' : 'them'} out.`);
  return {
    plan: planned.plan,
    classes: counts,
    viewsPerImage: planned.augmentation.views,
    examples: planned.perClass,
    policyName: planned.augmentation.policy?.name ?? null,
    notes,
  };
}

export function augmentHandlers(ctx: CoreContext): Pick<Handlers, AugmentMethods> {
  const db = () => ctx.requireStore().db;
  return {
    'augment.preview': ({ imageId, policy, seed, count }) => augmentPreview(ctx, imageId, policy, seed, count),
    'augment.materialise': ({ policy, copies, seed, classIds }) => ({ jobId: startMaterialise(ctx, { policy, copies, seed: seed ?? 1, classIds }).id }),
    'augment.removeDerived': () => removeDerived(ctx),
    'balance.preview': ({ balance, augment, seed }) => balancePreview(db(), balance, augment, seed),
  };
}
