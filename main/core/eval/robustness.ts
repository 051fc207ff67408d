/**
 * How a run holds up when its test images get worse: accuracy under common corruptions
 * (noise, blur, brightness, contrast, JPEG) at three severities, and under FGSM adversarial
 * perturbations at small ε. Stored with the run.
 *
 * Corruptions reuse the augmentation path: severity s of corruption c is the one-step policy
 * { op: c, p: 1, strength: s }, embedded as view 0 in the embed workers and cached like any
 * augmented view, so a second report only classifies. The strength is drawn per image as the
 * augmentation ops do (see AUGMENT_OPS), with the image's content seeding the draw:
 * - noise, blur, jpeg: between half and all of the severity's maximum (σ of noise up to
 *   8.5 / 17 / 25.5 levels; blur σ up to 1 / 2 / 3 px; JPEG quality down to 68 / 42 / 15);
 * - brightness, contrast: a factor in [1 − 0.6s, 1 + 0.6s]. One image draws the same
 *   position in that range at every severity, so it darkens (or brightens, or loses
 *   contrast, or gains it) in one fixed direction, further at each severity: about half the
 *   images go each way, which is what a change of lighting does to a real test set.
 *
 * A fine-tuned run's backbone differs from the one the cached embeddings came from, so its
 * head alone cannot classify them; corruptions are refused for it (FGSM, which runs the whole
 * model, would work, but a half report would read as a whole one).
 */
import type { Database } from 'better-sqlite3';
import type { AugmentPolicy } from '../../../shared/contract/augment.ts';
import { CORRUPTIONS, type Corruption, type JobInfo, type RobustnessReport } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { ensureEmbeddings, ensureViewEmbeddings, loadPresentEmbeddings, loadViewEmbeddings } from '../ml/embeddings.ts';
import { featureKey, modelDirFor } from '../ml/models.ts';
import { requireUsableRun } from '../ml/predictions.ts';
import { runDir } from '../ml/runs.ts';
import type { FgsmOutcome, PredictOutcome } from '../ml/train-protocol.ts';
import { runInTrainWorker } from '../ml/train-runner.ts';
import { embedPool } from '../ml/training.ts';
import { splitImages } from './evaluate.ts';

/** Strength (0–1, as in AUGMENT_LIMITS) of severities 1, 2, 3. */
export const SEVERITY_STRENGTHS: [number, number, number] = [1 / 3, 2 / 3, 1];

/** FGSM sizes in 0–255 pixel units: 1–4 levels are invisible to a person. */
export const FGSM_EPSILONS = [1, 2, 4];

/** Seed of the corrupted views: fixed, so every run of a project is judged on the same corrupted images (and shares their cache). */
export const CORRUPTION_SEED = 7;

/** The one-step augmentation policy that applies a corruption at a strength to every image. */
export function corruptionPolicy(corruption: Corruption, strength: number): AugmentPolicy {
  return { name: `robustness ${corruption} ${strength.toFixed(3)}`, ops: [{ op: corruption, p: 1, strength }] };
}

/** The stored report and, in words, how severities were drawn. */
export type StoredRobustness = RobustnessReport & { notes: string[] };

const SEVERITY_NOTE =
  'Each image is corrupted once per severity, its amount drawn (seeded by its content) between half and all of the severity’s maximum; brightness and contrast move each image one fixed way, darker or brighter, flatter or stronger, further at each severity.';

function accuracyOf(probabilities: Float32Array, k: number, truth: ArrayLike<number>): number {
  if (!truth.length) return 0;
  let right = 0;
  for (let i = 0; i < truth.length; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probabilities[i * k + c]! > probabilities[i * k + best]!) best = c;
    if (best === truth[i]) right++;
  }
  return right / truth.length;
}

export function startRobustness(ctx: CoreContext, runId: number): JobInfo {
  const store = ctx.requireStore();
  const run = requireUsableRun(store.db, runId);
  if (run.fine_tuned) {
    throw new CoreError(
      'unsupported',
      `${run.name} fine-tuned its backbone, and Seedbed measures robustness to corruptions from the unchanged backbone's image summaries. Measure a run trained without fine-tuning (fine-tune blocks 0) with the same data instead.`,
    );
  }
  const images = splitImages(store.db, runId, 'test');
  if (!images.length) {
    throw new CoreError('invalid_input', `The project has no test images of ${run.name}'s classes to measure robustness on. Give images a test split first.`);
  }
  const job = ctx.jobs.start({ kind: 'robustness', title: `Robustness of ${run.name}`, params: { runId } }, async (job) => {
    const started = performance.now();
    const db = job.store.db;
    const key = featureKey(run.backbone);
    const modelDir = modelDirFor(ctx, run.backbone);
    const pool = embedPool(ctx);
    const signal = job.signal;
    const notes = [SEVERITY_NOTE];

    // Progress in images: clean, then each corruption at each severity, then FGSM.
    const steps = CORRUPTIONS.flatMap((corruption) => SEVERITY_STRENGTHS.map((strength) => ({ corruption, policy: corruptionPolicy(corruption, strength) })));
    const total = images.length * (steps.length + 2);
    let done = 0;
    const report = (n: number) => job.progress(done + n, total);

    const clean = await ensureEmbeddings(db, pool, { backbone: run.backbone, featureKey: key, modelDir, view: 'center', targets: images }, { signal, onProgress: (p) => report(p.done) });
    done += images.length;
    const { x: cleanX, dims, kept: tested } = loadPresentEmbeddings(db, key, 'center', images);
    if (!tested.length) throw new CoreError('io_error', `None of ${run.name}'s test images could be read (${clean.failed[0]?.path}: ${clean.failed[0]?.reason}).`);
    if (clean.failed.length) notes.push(`${clean.failed.length} test images could not be read and were left out.`);
    const targets = tested.map((i) => ({ imageId: i.imageId, sha256: i.sha256, views: 1 }));

    // Every set of embeddings goes to one prediction request: the head is loaded once.
    const sets: { x: Float32Array; truth: Int32Array }[] = [];
    sets.push({ x: cleanX, truth: Int32Array.from(tested, (i) => i.classIndex) });
    for (const step of steps) {
      const made = await ensureViewEmbeddings(db, pool, { backbone: run.backbone, featureKey: key, modelDir, policy: step.policy, seed: CORRUPTION_SEED, targets }, { signal, onProgress: (p) => report(p.done) });
      done += images.length;
      if (made.failed.length) notes.push(`${step.policy.name}: ${made.failed.length} images could not be corrupted and were left out.`);
      const views = loadViewEmbeddings(db, key, step.policy, CORRUPTION_SEED, targets, dims);
      sets.push({ x: views.x.slice(), truth: Int32Array.from(views.owner, (t) => tested[t]!.classIndex) });
    }
    const rows = sets.reduce((a, s) => a + s.truth.length, 0);
    const all = new Float32Array(rows * dims);
    let at = 0;
    for (const s of sets) {
      all.set(s.x, at * dims);
      at += s.truth.length;
    }
    const predicted = await runInTrainWorker<PredictOutcome>({ type: 'predict', runDir: runDir(job.store, runId), embeddings: { x: all, n: rows, dims } }, { signal });
    const k = predicted.numClasses;
    const accuracies: number[] = [];
    at = 0;
    for (const s of sets) {
      accuracies.push(accuracyOf(predicted.probabilities.subarray(at * k, (at + s.truth.length) * k), k, s.truth));
      at += s.truth.length;
    }

    // FGSM through the whole model: the gradient reaches the pixels on every backend Seedbed runs (gradient-kernels.ts).
    let fgsm: RobustnessReport['fgsm'] = null;
    let fgsmNote: string | null = null;
    try {
      const outcome = await runInTrainWorker<FgsmOutcome>(
        { type: 'fgsm', runDir: runDir(job.store, runId), files: tested.map((i) => i.path), labels: Int32Array.from(tested, (i) => i.classIndex), epsilons: FGSM_EPSILONS },
        { signal, onMessage: (m) => m.type === 'progress' && report(Math.round((m.done / m.total) * images.length)) },
      );
      fgsm = FGSM_EPSILONS.map((epsilon, e) => ({ epsilon, accuracy: outcome.accuracy[e]! }));
      const unreadable = outcome.errors.filter(Boolean).length;
      if (unreadable) notes.push(`FGSM: ${unreadable} test images could not be read and were left out.`);
    } catch (err) {
      if (signal.aborted) throw err;
      fgsmNote = `FGSM could not run on this machine: ${(err as Error).message}`;
    }

    const stored: StoredRobustness = {
      runId,
      count: tested.length,
      cleanAccuracy: accuracies[0]!,
      corruptions: CORRUPTIONS.map((corruption, c) => ({
        corruption,
        accuracy: [accuracies[1 + c * 3]!, accuracies[2 + c * 3]!, accuracies[3 + c * 3]!],
        strength: [...SEVERITY_STRENGTHS],
      })),
      fgsm,
      fgsmNote,
      createdAt: Date.now(),
      seconds: (performance.now() - started) / 1000,
      notes,
    };
    db.prepare('UPDATE runs SET robustness = ? WHERE id = ?').run(JSON.stringify(stored), runId);
    ctx.events.emit('runs.changed', { runId });
    return { runId, cleanAccuracy: stored.cleanAccuracy };
  });
  return job;
}

/** The run's stored robustness report (with its notes), or null before one was made. */
export function getRobustness(db: Database, runId: number): StoredRobustness | null {
  const row = db.prepare('SELECT robustness FROM runs WHERE id = ?').get(runId) as { robustness: string | null } | undefined;
  if (!row) throw new CoreError('not_found', `There is no run ${runId}.`);
  return row.robustness ? (JSON.parse(row.robustness) as StoredRobustness) : null;
}
