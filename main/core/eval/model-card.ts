/**
 * A run's model card: one self-contained, printable HTML file a user can attach to a report
 * or a paper. It says what the model was trained on (classes, splits, what the dataset check
 * found and what was fixed), how (config, rebalancing, augmentation, curves), how good it is
 * (metrics with 95% intervals, confusion matrix, calibration, slices, robustness,
 * cross-validation) and what it should not be trusted with (limitations, written from the
 * numbers). No scripts, fonts or links; every project string is escaped.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import type {
  CrossValidationReport,
  DatasetHealth,
  EpochMetrics,
  EvaluationResult,
  ReliabilityBin,
  RobustnessReport,
  RunDetail,
} from '../../../shared/contract/index.ts';
import { FINDING_KINDS } from '../../../shared/contract/index.ts';
import { KIND_TITLES } from '../../../shared/domain/findings.ts';
import { escapeHtml as esc } from '../clean/health-report.ts';
import { datasetHealth } from '../clean/health.ts';
import type { CoreContext } from '../context.ts';
import { splitFingerprint } from '../data/splits.ts';
import { CoreError } from '../errors.ts';
import { getRun } from '../ml/runs.ts';
import { getCrossValidation } from './crossval.ts';
import { evaluateRun } from './evaluate.ts';
import { getRobustness } from './robustness.ts';

export interface ModelCardData {
  run: RunDetail;
  health: DatasetHealth;
  evaluation: EvaluationResult | null;
  /** Why there is no evaluation, in words. */
  evaluationNote: string | null;
  robustness: RobustnessReport | null;
  crossval: CrossValidationReport | null;
  appVersion: string;
  generatedAt: number;
}

const pct = (x: number, digits = 1) => `${(x * 100).toFixed(digits)}%`;
const count = (n: number) => n.toLocaleString('en-US');

function formatDate(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

/** A line chart of one or two series over epochs, as inline SVG. */
function curveSvg(title: string, series: { name: string; colour: string; values: (number | null)[] }[], max: number | null): string {
  const w = 320;
  const h = 150;
  const pad = { l: 34, r: 8, t: 18, b: 20 };
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const top = max ?? Math.max(1e-9, ...all);
  const x = (i: number) => pad.l + (n === 1 ? 0 : (i / (n - 1)) * (w - pad.l - pad.r));
  const y = (v: number) => pad.t + (1 - Math.min(v, top) / top) * (h - pad.t - pad.b);
  const lines = series
    .map((s) => {
      const points = s.values.map((v, i) => (v === null || !Number.isFinite(v) ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean);
      return points.length ? `<polyline fill="none" stroke="${s.colour}" stroke-width="1.6" points="${points.join(' ')}"/>` : '';
    })
    .join('');
  const legend = series.map((s, i) => `<text x="${pad.l + 4 + i * 90}" y="12" fill="${s.colour}" font-size="10">${esc(s.name)}</text>`).join('');
  return `<figure class="chart"><svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(title)}">
    <line x1="${pad.l}" y1="${h - pad.b}" x2="${w - pad.r}" y2="${h - pad.b}" stroke="#ccc"/><line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${h - pad.b}" stroke="#ccc"/>
    <text x="${pad.l - 4}" y="${pad.t + 4}" font-size="9" text-anchor="end" fill="#666">${top < 10 ? top.toFixed(2) : top.toFixed(0)}</text>
    <text x="${pad.l - 4}" y="${h - pad.b}" font-size="9" text-anchor="end" fill="#666">0</text>
    <text x="${w - pad.r}" y="${h - 6}" font-size="9" text-anchor="end" fill="#666">epoch ${n}</text>${lines}${legend}</svg><figcaption>${esc(title)}</figcaption></figure>`;
}

/** A reliability diagram: accuracy per confidence bin against the diagonal. */
function reliabilitySvg(title: string, bins: ReliabilityBin[]): string {
  const s = 200;
  const pad = 24;
  const inner = s - 2 * pad;
  const bars = bins
    .filter((b) => b.count > 0)
    .map((b) => {
      const x = pad + b.lower * inner;
      const bw = Math.max(1, (b.upper - b.lower) * inner - 1);
      const bh = b.accuracy * inner;
      return `<rect x="${x.toFixed(1)}" y="${(pad + inner - bh).toFixed(1)}" width="${bw.toFixed(1)}" height="${bh.toFixed(1)}" fill="#4e79a7" opacity="0.8"><title>${pct(b.lower, 0)}–${pct(b.upper, 0)}: ${count(b.count)} images, ${pct(b.accuracy)} right</title></rect>`;
    })
    .join('');
  return `<figure class="chart"><svg viewBox="0 0 ${s} ${s}" width="${s}" height="${s}" role="img" aria-label="${esc(title)}">
    <rect x="${pad}" y="${pad}" width="${inner}" height="${inner}" fill="none" stroke="#ccc"/>${bars}
    <line x1="${pad}" y1="${pad + inner}" x2="${pad + inner}" y2="${pad}" stroke="#e15759" stroke-dasharray="3 3"/>
    <text x="${pad}" y="${s - 6}" font-size="9" fill="#666">confidence →</text><text x="4" y="${pad - 6}" font-size="9" fill="#666">right</text></svg><figcaption>${esc(title)}</figcaption></figure>`;
}

function interval(m: { value: number; low: number; high: number }): string {
  return `<b>${pct(m.value)}</b> <span class="muted">(${pct(m.low)}–${pct(m.high)})</span>`;
}

/** What the numbers say the model should not be trusted with, in sentences. */
export function limitations(d: ModelCardData): string[] {
  const out: string[] = [];
  const e = d.evaluation;
  if (!e) {
    out.push(d.evaluationNote ?? 'The model was not evaluated on held-out images, so nothing is known about how it does on new ones.');
    return out;
  }
  const width = e.headline.accuracy.high - e.headline.accuracy.low;
  if (e.count < 100 || width > 0.1) {
    out.push(`Only ${count(e.count)} test images: the accuracy could plausibly be anywhere from ${pct(e.headline.accuracy.low)} to ${pct(e.headline.accuracy.high)}.`);
  }
  for (const name of e.classes) {
    const c = e.perClass[name]!;
    if (c.support > 0 && c.recall < e.headline.accuracy.value - 0.15) {
      out.push(`${name}: only ${pct(c.recall)} of its test images are recognised (against ${pct(e.headline.accuracy.value)} overall).`);
    }
    if (c.support > 0 && c.support < 10) out.push(`${name} has ${c.support} test image${c.support === 1 ? '' : 's'}: its numbers say little.`);
  }
  const pair = e.confusedPairs[0];
  if (pair && pair.aAsB + pair.bAsA >= Math.max(2, e.count * 0.02)) {
    out.push(`${pair.a} and ${pair.b} are the classes most often mistaken for each other (${pair.aAsB + pair.bAsA} test images).`);
  }
  if (e.calibration.ece > 0.05) {
    out.push(
      `Its confidence is off by ${pct(e.calibration.ece)} on average (expected calibration error)` +
        (e.temperature ? `; temperature scaling (T = ${e.temperature.value.toFixed(2)}) brings that to ${pct(e.temperature.after.ece)}.` : '.'),
    );
  }
  for (const s of e.slices.filter((x) => x.worse)) {
    out.push(`Images tagged ${s.key}=${s.value} do significantly worse: ${pct(s.accuracy)} right against ${pct(s.restAccuracy)} for the rest.`);
  }
  if (d.robustness) {
    const worst = d.robustness.corruptions.map((c) => ({ c: c.corruption, drop: d.robustness!.cleanAccuracy - c.accuracy[2] })).sort((a, b) => b.drop - a.drop)[0];
    if (worst && worst.drop > 0.1) out.push(`Strong ${worst.c} lowers accuracy by ${pct(worst.drop)}: check that new images are taken the way the training images were.`);
  } else {
    out.push('Its robustness to noise, blur, lighting and compression was not measured.');
  }
  if (d.run.stale) out.push('The dataset changed after this run: the numbers describe the data as it was then.');
  const open = FINDING_KINDS.reduce((a, k) => a + d.health.findings[k].open, 0);
  if (open > 0) out.push(`The dataset check lists ${count(open)} open finding${open === 1 ? '' : 's'} (duplicates, poor images or possible label mistakes) that were not resolved.`);
  if (!d.health.lastCheck) out.push('The dataset was never checked for duplicates, poor images or label mistakes.');
  out.push('It only knows the classes it was trained on: an image of anything else is still given one of them.');
  return out;
}

const CSS = `
  body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; margin: 0; background: #f6f7f9; }
  main { max-width: 960px; margin: 0 auto; padding: 28px 32px 48px; background: #fff; }
  h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #e4e6ea; padding-bottom: 4px; }
  .muted { color: #6b7280; } .cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
  .card { border: 1px solid #e4e6ea; border-radius: 8px; padding: 8px 12px; min-width: 150px; } .card .label { font-size: 12px; color: #6b7280; }
  table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; } th, td { padding: 3px 10px 3px 0; text-align: right; border-bottom: 1px solid #f0f1f3; }
  th:first-child, td:first-child { text-align: left; } th { font-weight: 600; color: #4b5563; }
  .confusion td { text-align: center; min-width: 34px; } .confusion td:first-child { text-align: left; }
  table.settings td { text-align: left; } table.settings td:first-child { color: #4b5563; padding-right: 18px; } .charts { display: flex; flex-wrap: wrap; gap: 16px; }
  figure.chart { margin: 0; } figcaption { font-size: 12px; color: #6b7280; }
  ul.limits li { margin: 3px 0; } code { font-size: 12px; background: #f3f4f6; padding: 1px 4px; border-radius: 4px; }
  @media print { body { background: #fff; } main { padding: 0; max-width: none; } h2 { break-after: avoid; } table, figure { break-inside: avoid; } }
`;

function confusionTable(e: EvaluationResult): string {
  const head = e.classes.map((c) => `<th>${esc(c)}</th>`).join('');
  const rows = e.classes
    .map((name, i) => {
      const cells = e.confusion[i]!.map((n, j) => {
        const share = e.confusionNormalised[i]![j]!;
        const bg = i === j ? `rgba(89,161,79,${(0.15 + share * 0.6).toFixed(2)})` : n > 0 ? `rgba(225,87,89,${(0.1 + share * 0.7).toFixed(2)})` : 'transparent';
        return `<td style="background:${bg}">${n}</td>`;
      });
      return `<tr><td>${esc(name)}</td>${cells.join('')}</tr>`;
    })
    .join('');
  return `<table class="confusion"><tr><th>true ↓ · predicted →</th>${head}</tr>${rows}</table>`;
}

function curvesSection(epochs: EpochMetrics[]): string {
  if (!epochs.length) return '<p class="muted">No epochs were recorded.</p>';
  return `<div class="charts">${curveSvg(
    'Loss per epoch (lower is better)',
    [
      { name: 'training', colour: '#4e79a7', values: epochs.map((e) => e.trainLoss) },
      { name: 'validation', colour: '#f28e2b', values: epochs.map((e) => e.valLoss) },
    ],
    null,
  )}${curveSvg(
    'Accuracy per epoch',
    [
      { name: 'training', colour: '#4e79a7', values: epochs.map((e) => e.trainAccuracy) },
      { name: 'validation', colour: '#f28e2b', values: epochs.map((e) => e.valAccuracy) },
    ],
    1,
  )}</div>`;
}

export function modelCardHtml(d: ModelCardData): string {
  const { run, health, evaluation: e } = d;
  const c = run.config;
  const trainCount = Object.values(run.splitCounts).reduce((a, s) => a + s.train, 0);
  const parts: string[] = [];
  parts.push(`<h1>Model card: ${esc(run.name)}</h1>
  <p class="muted">Project ${esc(health.projectName)} · trained ${esc(formatDate(run.createdAt))} · written ${esc(formatDate(d.generatedAt))} by Seedbed ${esc(d.appVersion)}</p>
  <p>An image classifier for ${run.classes.length} classes (${run.classes.map(esc).join(', ')}): a pretrained network (${esc(run.backbone)}${run.fineTuned ? ', its top blocks fine-tuned' : ''}) turns each image into numbers, and a small classifier trained on ${count(trainCount)} labelled images decides the class.</p>`);

  if (e) {
    parts.push(`<h2>How good it is</h2>
    <p>On ${count(e.count)} ${e.source === 'test' ? 'test images, never used in training' : e.source === 'val' ? 'validation images' : 'images of a folder'}. In brackets: the 95% interval from ${count(e.bootstrap.samples)} bootstrap resamples, the range the number could plausibly take on other images like these.</p>
    <div class="cards">
      <div class="card"><div class="label">Accuracy</div>${interval(e.headline.accuracy)}</div>
      <div class="card"><div class="label">Balanced accuracy</div>${interval(e.headline.balancedAccuracy)}</div>
      <div class="card"><div class="label">Macro-F1</div>${interval(e.headline.macroF1)}</div>
      <div class="card"><div class="label">Weighted F1</div>${interval(e.headline.weightedF1)}</div>
    </div>
    <table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>AUC</th><th>AP</th><th>images</th></tr>
    ${e.classes
      .map((name) => {
        const m = e.perClass[name]!;
        const curve = e.curves[name]!;
        return `<tr><td>${esc(name)}</td><td>${pct(m.precision)}</td><td>${pct(m.recall)}</td><td>${pct(m.f1)}</td><td>${curve.auc === null ? '–' : curve.auc.toFixed(3)}</td><td>${curve.averagePrecision === null ? '–' : curve.averagePrecision.toFixed(3)}</td><td>${count(m.support)}</td></tr>`;
      })
      .join('')}</table>
    <h2>Where it errs</h2>${confusionTable(e)}
    ${e.confusedPairs.length ? `<p>Most confused: ${e.confusedPairs.slice(0, 3).map((p) => `${esc(p.a)} ↔ ${esc(p.b)} (${p.aAsB} + ${p.bAsA})`).join('; ')}.</p>` : '<p>No class was mistaken for another.</p>'}
    <h2>How far to trust its confidence</h2>
    <p>Expected calibration error ${pct(e.calibration.ece)}${e.temperature ? `; after temperature scaling fitted on the validation images (T = ${e.temperature.value.toFixed(2)}) ${pct(e.temperature.after.ece)}` : ''}. Predictions use temperature ${run.calibration.temperature.toFixed(2)}${run.calibration.threshold > 0 ? ` and answer “not sure” below ${pct(run.calibration.threshold, 0)} confidence` : ' and always answer'}.</p>
    <div class="charts">${reliabilitySvg('Reliability, as trained', e.calibration.bins)}${e.temperature ? reliabilitySvg(`After temperature scaling (T = ${e.temperature.value.toFixed(2)})`, e.temperature.after.bins) : ''}</div>`);
    if (e.slices.length) {
      parts.push(`<h2>Groups of images</h2><table><tr><th>tag</th><th>images</th><th>accuracy</th><th>rest</th><th>adjusted p</th><th></th></tr>${e.slices
        .map((s) => `<tr><td>${esc(s.key)}=${esc(s.value)}</td><td>${count(s.count)}</td><td>${pct(s.accuracy)}</td><td>${pct(s.restAccuracy)}</td><td>${s.adjustedP.toPrecision(2)}</td><td>${s.worse ? '<b>worse</b>' : ''}</td></tr>`)
        .join('')}</table>`);
    }
  } else {
    parts.push(`<h2>How good it is</h2><p>${esc(d.evaluationNote ?? 'Not evaluated.')}</p>`);
  }

  if (d.robustness) {
    const r = d.robustness;
    parts.push(`<h2>Robustness</h2><p>Accuracy on the ${count(r.count)} test images when they are degraded (clean: ${pct(r.cleanAccuracy)}).</p>
    <table><tr><th>corruption</th><th>mild</th><th>medium</th><th>strong</th></tr>${r.corruptions
      .map((x) => `<tr><td>${esc(x.corruption)}</td>${x.accuracy.map((a) => `<td>${pct(a)}</td>`).join('')}</tr>`)
      .join('')}</table>${r.fgsm ? `<p>Adversarial (FGSM): ${r.fgsm.map((f) => `ε ${f.epsilon}: ${pct(f.accuracy)}`).join(', ')}.</p>` : r.fgsmNote ? `<p class="muted">${esc(r.fgsmNote)}</p>` : ''}`);
  }
  if (d.crossval) {
    const x = d.crossval;
    parts.push(`<h2>Cross-validation</h2><p>${x.folds}-fold on ${count(x.images)} training and validation images: accuracy ${pct(x.mean.accuracy)} ± ${pct(x.std.accuracy)}, macro-F1 ${pct(x.mean.macroF1)} ± ${pct(x.std.macroF1)}.</p>`);
  }

  parts.push(`<h2>What it should not be trusted with</h2><ul class="limits">${limitations(d).map((l) => `<li>${esc(l)}</li>`).join('')}</ul>`);

  const splitRows = health.classes
    .map((k) => `<tr><td>${esc(k.name)}</td><td>${count(k.counts.train)}</td><td>${count(k.counts.val)}</td><td>${count(k.counts.test)}</td><td>${count(k.counts.total)}</td></tr>`)
    .join('');
  const findings = FINDING_KINDS.filter((k) => {
    const f = health.findings[k];
    return f.open + f.fixed + f.dismissed > 0;
  })
    .map((k) => `<tr><td>${esc(KIND_TITLES[k])}</td><td>${count(health.findings[k].open)}</td><td>${count(health.findings[k].fixed)}</td><td>${count(health.findings[k].dismissed)}</td></tr>`)
    .join('');
  parts.push(`<h2>Data</h2><p>${count(health.active)} images in use (${count(health.excluded)} excluded, ${count(health.unlabeled)} without a label) in the project today${run.stale ? '; the dataset has changed since this run' : ''}.</p>
  <table><tr><th>class</th><th>train</th><th>validation</th><th>test</th><th>all</th></tr>${splitRows}</table>
  ${health.lastCheck ? `<p>Dataset check of ${esc(formatDate(health.lastCheck.at))}:</p>${findings ? `<table><tr><th>finding</th><th>open</th><th>fixed</th><th>dismissed</th></tr>${findings}</table>` : '<p>It found nothing.</p>'}` : '<p>The dataset was never checked (duplicates, poor images, label mistakes).</p>'}`);

  const plan = run.plan;
  parts.push(`<h2>How it was trained</h2>
  <table class="settings">
    <tr><td>Pretrained network</td><td>${esc(run.backbone)}${run.fineTuned ? ` (top ${c.fineTuneBlocks} blocks fine-tuned)` : ''}</td></tr>
    <tr><td>Classifier</td><td>${c.hiddenUnits ? `${c.hiddenUnits} hidden units, dropout ${c.dropout}` : 'one softmax layer'}, L2 ${c.l2}, label smoothing ${c.labelSmoothing}</td></tr>
    <tr><td>Optimiser</td><td>${esc(c.optimizer)}, learning rate ${c.learningRate} (${esc(c.schedule)}), batch ${c.batchSize}, at most ${c.epochs} epochs, early stopping after ${c.patience}</td></tr>
    <tr><td>Rebalancing</td><td>${plan ? esc(plan.balance.notes.join(' ')) : esc(c.classWeights === 'balanced' ? 'Class weights.' : 'None.')}</td></tr>
    <tr><td>Augmentation</td><td>${plan && plan.viewsPerImage > 0 ? `${plan.viewsPerImage} views of each training image (${esc(plan.policyName ?? '')})` : plan?.examples.views ? `${count(plan.examples.views)} augmented views for rebalancing (${esc(plan.policyName ?? '')})` : 'none'}</td></tr>
    <tr><td>Seed</td><td>${c.seed}</td></tr>
    <tr><td>Runtime</td><td>TensorFlow.js ${esc(run.backend ?? '?')}${run.seconds ? `, ${run.seconds.total.toFixed(0)} s` : ''}</td></tr>
  </table>
  ${run.diagnosis ? `<p>${esc(run.diagnosis.message)}</p>` : ''}
  ${curvesSection(run.epochs)}`);

  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Model card: ${esc(run.name)}</title><style>${CSS}</style></head><body><main>${parts.join('\n')}</main></body></html>\n`;
}

/** Gathers what the card needs; a part that cannot be had (no test images) is said, not fatal. */
export async function modelCardData(ctx: CoreContext, runId: number, appVersion: string): Promise<ModelCardData> {
  const store = ctx.requireStore();
  const run = getRun(store.db, runId, splitFingerprint(store.db));
  if (run.status !== 'done') throw new CoreError('invalid_input', `${run.name} has no trained model (it is ${run.status}). Write the model card of a finished run.`);
  let evaluation: EvaluationResult | null = null;
  let evaluationNote: string | null = null;
  try {
    evaluation = await evaluateRun(ctx, runId, { split: 'test' });
  } catch (err) {
    evaluationNote = err instanceof CoreError ? err.message : `It could not be evaluated: ${(err as Error).message}`;
  }
  const stored = <T>(read: () => T | null): T | null => {
    try {
      return read();
    } catch {
      return null;
    }
  };
  return {
    run,
    health: datasetHealth(store.db, store.path),
    evaluation,
    evaluationNote,
    robustness: stored(() => getRobustness(store.db, runId)),
    crossval: stored(() => getCrossValidation(store.db, runId)),
    appVersion,
    generatedAt: Date.now(),
  };
}

/** Writes the card as `<run name> model card.html` into a folder, or as the given file. */
export async function writeModelCard(ctx: CoreContext, runId: number, to: { dir: string } | { file: string }): Promise<{ path: string; bytes: number }> {
  const data = await modelCardData(ctx, runId, ctx.options.host.appVersion);
  const html = modelCardHtml(data);
  let file: string;
  if ('file' in to) {
    file = nodePath.resolve(to.file);
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new CoreError('invalid_input', `${file} is a folder; give the model card a file name ending in .html.`);
    fs.mkdirSync(nodePath.dirname(file), { recursive: true });
  } else {
    const target = nodePath.resolve(to.dir);
    if (fs.existsSync(target) && !fs.statSync(target).isDirectory()) throw new CoreError('invalid_input', `${target} is a file; choose a folder for the model card.`);
    fs.mkdirSync(target, { recursive: true });
    file = nodePath.join(target, `${data.run.name.replace(/[\\/:*?"<>|]/g, '-')} model card.html`);
  }
  try {
    fs.writeFileSync(file, html);
  } catch (err) {
    throw new CoreError('io_error', `Seedbed could not write the model card to ${file}: ${(err as Error).message}.`);
  }
  return { path: file, bytes: Buffer.byteLength(html) };
}
