/**
 * The dataset health report as one self-contained HTML file: counts, balance, sizes,
 * formats and the open findings, readable offline, shareable by mail and printable.
 * Nothing external is referenced (no fonts, scripts or image URLs other than data: URLs),
 * and every string that comes from the project is escaped, since file paths and class
 * names are whatever the user's disk and typing made them.
 */
import type { DatasetHealth, FindingKind, FindingView, ImageRow, SplitCounts } from '../../../shared/contract/index.ts';
import { FINDING_KINDS } from '../../../shared/contract/index.ts';
import { FINDING_DESCRIPTIONS, KIND_TITLES, suggestionText } from '../../../shared/domain/findings.ts';

/** Findings shown per kind; the rest are counted in an "and N more" line so the file stays small. */
export const FINDINGS_PER_KIND = 20;

export interface HealthReportOptions {
  /** Image id → thumbnail as a data: URL (JPEG or PNG, base64). */
  thumbnails?: Map<number, string>;
}

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      default:
        return '&#39;';
    }
  });
}

const esc = escapeHtml;
const NEUTRAL = '#8a8f98';
const SPLIT_COLOURS: Record<keyof Omit<SplitCounts, 'total'>, string> = {
  train: '#4e79a7',
  val: '#f28e2b',
  test: '#59a14f',
  none: '#bab0ac',
};
const SPLIT_LABELS: Record<keyof Omit<SplitCounts, 'total'>, string> = {
  train: 'Train',
  val: 'Validation',
  test: 'Test',
  none: 'No split',
};
const SPLIT_KEYS = ['train', 'val', 'test', 'none'] as const;

/**
 * Class colours go into style attributes, where escaping alone does not stop CSS
 * injection; only #rrggbb passes.
 */
function safeColour(colour: string): string {
  return /^#[0-9a-fA-F]{6}$/.test(colour) ? colour : NEUTRAL;
}

/** Only base64 image data URLs, so a thumbnail can never make the file fetch anything. */
function safeThumbnail(url: string | undefined): string | null {
  if (url === undefined) return null;
  return /^data:image\/(jpeg|png|webp|gif);base64,[A-Za-z0-9+/]+=*$/.test(url) ? url : null;
}

const count = (n: number): string => n.toLocaleString('en-US');

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local date and time as 2024-05-03 14:07: unambiguous in every locale. */
function formatDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

function formatRatio(ratio: number): string {
  return ratio >= 10 ? String(Math.round(ratio)) : ratio.toFixed(1).replace(/\.0$/, '');
}

function percent(part: number, whole: number): number {
  return whole > 0 ? (part / whole) * 100 : 0;
}

/** A horizontal bar: label, a coloured bar scaled to `max`, the value. */
function barRow(label: string, value: number, max: number, colour: string, detail = ''): string {
  const width = percent(value, max).toFixed(1);
  return `<div class="bar-row"><div class="bar-label" title="${esc(label)}">${esc(label)}</div><div class="bar-track"><div class="bar" style="width:${width}%;background:${safeColour(colour)}"></div></div><div class="bar-value"><span>${count(value)}</span>${detail}</div></div>`;
}

function summaryCard(label: string, value: string): string {
  return `<div class="card"><div class="card-value">${value}</div><div class="card-label">${esc(label)}</div></div>`;
}

function summarySection(h: DatasetHealth): string {
  let imbalance: string;
  let hint = '';
  if (h.imbalanceRatio === null) {
    imbalance = '—';
    hint = esc(h.classes.length < 2 ? 'The imbalance ratio needs at least two classes with images.' : 'The imbalance ratio needs labelled images in at least two classes.');
  } else {
    imbalance = `${esc(formatRatio(h.imbalanceRatio))}×`;
    if (h.imbalanceRatio > 3) hint = esc(`Imbalanced: the largest class has ${formatRatio(h.imbalanceRatio)}× the images of the smallest.`);
  }
  const cards = [
    summaryCard('Images', count(h.images)),
    summaryCard('Active', count(h.active)),
    summaryCard('Excluded', count(h.excluded)),
    summaryCard('Unlabeled', count(h.unlabeled)),
    summaryCard('Classes', count(h.classes.length)),
    summaryCard('Imbalance ratio', imbalance),
  ].join('');
  // The hint sits under the row, not in its card, so one long sentence does not stretch every card.
  return `<section><div class="summary">${cards}</div>${hint ? `<p class="hint">${hint}</p>` : ''}</section>`;
}

function splitDetail(c: SplitCounts): string {
  return SPLIT_KEYS.map((k) => `<td class="num">${count(c[k])}</td>`).join('');
}

function classBalanceSection(h: DatasetHealth): string {
  let body: string;
  if (h.classes.length === 0) {
    body = '<p class="empty">No classes yet: add classes and label images to see the balance.</p>';
  } else {
    const max = Math.max(1, ...h.classes.map((c) => c.counts.total));
    const bars = h.classes.map((c) => barRow(c.name, c.counts.total, max, c.colour)).join('');
    const rows = h.classes
      .map((c) => `<tr><td><span class="swatch" style="background:${safeColour(c.colour)}"></span>${esc(c.name)}</td><td class="num">${count(c.counts.total)}</td>${splitDetail(c.counts)}</tr>`)
      .join('');
    const oneClass = h.classes.length === 1 ? '<p class="empty">Only one class: a classifier needs at least two.</p>' : '';
    body = `${oneClass}<div class="bars">${bars}</div><table class="counts"><thead><tr><th>Class</th><th class="num">Total</th>${SPLIT_KEYS.map((k) => `<th class="num">${SPLIT_LABELS[k]}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table>`;
  }
  return `<section><h2>Class balance</h2><p class="note">Active, labelled images per class.</p>${body}</section>`;
}

function splitBalanceSection(h: DatasetHealth): string {
  const s = h.splits;
  const body =
    s.total === 0
      ? '<p class="empty">No active images.</p>'
      : `<div class="stack">${SPLIT_KEYS.filter((k) => s[k] > 0)
          .map((k) => `<div style="width:${percent(s[k], s.total).toFixed(2)}%;background:${SPLIT_COLOURS[k]}" title="${SPLIT_LABELS[k]}"></div>`)
          .join('')}</div><div class="bars">${SPLIT_KEYS.map((k) =>
          barRow(SPLIT_LABELS[k], s[k], s.total, SPLIT_COLOURS[k], ` <span class="muted">(${Math.round(percent(s[k], s.total))}%)</span>`),
        ).join('')}</div>`;
  return `<section><h2>Split balance</h2><p class="note">Active images per split.</p>${body}</section>`;
}

function sizesSection(h: DatasetHealth): string {
  if (h.images === 0) return '<section><h2>Image sizes and formats</h2><p class="empty">No images yet: import a folder to start.</p></section>';
  const max = Math.max(1, ...h.sizes.map((b) => b.count));
  const histogram = h.sizes.length === 0 ? '<p class="empty">No sizes recorded.</p>' : `<div class="bars">${h.sizes.map((b) => barRow(b.label, b.count, max, '#4e79a7')).join('')}</div>`;
  const formats = Object.entries(h.formats).sort((a, b) => b[1] - a[1]);
  const formatRows = formats.length === 0 ? '<tr><td colspan="2" class="muted">None</td></tr>' : formats.map(([f, n]) => `<tr><td>${esc(f.toUpperCase())}</td><td class="num">${count(n)}</td></tr>`).join('');
  const dims = (d: { width: number; height: number } | null): string => (d === null ? '—' : `${count(d.width)} × ${count(d.height)}`);
  return `<section><h2>Image sizes and formats</h2><div class="two-col"><div><h3>Longer side, in pixels</h3>${histogram}<p class="note">Smallest: ${dims(h.smallest)} · Largest: ${dims(h.largest)}</p></div><div><h3>Formats</h3><table class="counts"><thead><tr><th>Format</th><th class="num">Images</th></tr></thead><tbody>${formatRows}</tbody></table></div></div></section>`;
}

function lastCheckText(h: DatasetHealth): string {
  const c = h.lastCheck;
  if (c === null) return '<p class="note">The dataset has not been checked yet.</p>';
  const notes = c.notes.length ? `<ul class="notes">${c.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
  const backbone = c.backbone ? ` using ${esc(c.backbone)} embeddings` : '';
  return `<p class="note">Last checked ${esc(formatDate(c.at))} (${c.kinds.length} of ${FINDING_KINDS.length} checks, ${esc(c.seconds.toFixed(1))} s${backbone}).</p>${notes}`;
}

function findingsTableSection(h: DatasetHealth, shownKinds: Set<FindingKind>): string {
  const rows = FINDING_KINDS.map((kind) => {
    const c = h.findings[kind];
    const open = shownKinds.has(kind) ? `<a href="#kind-${kind}">${count(c.open)}</a>` : count(c.open);
    return `<tr${c.open > 0 ? ' class="has-open"' : ''}><td class="kind-title">${esc(KIND_TITLES[kind])}</td><td class="description">${esc(FINDING_DESCRIPTIONS[kind])}</td><td class="num open">${open}</td><td class="num">${count(c.fixed)}</td><td class="num">${count(c.dismissed)}</td></tr>`;
  }).join('');
  const totalOpen = FINDING_KINDS.reduce((sum, k) => sum + h.findings[k].open, 0);
  const empty =
    totalOpen === 0
      ? `<p class="empty">${h.lastCheck === null ? 'No open findings — run Check dataset to look for problems' : 'No open findings'}</p>`
      : '';
  return `<section><h2>Findings</h2>${lastCheckText(h)}${empty}<table class="findings"><thead><tr><th>Kind</th><th>What it means</th><th class="num">Open</th><th class="num">Fixed</th><th class="num">Dismissed</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

/** A path that wraps after its slashes rather than mid-name. */
function pathHtml(path: string): string {
  return esc(path).replace(/[/\\]/g, '$&<wbr>');
}

function imageBlock(image: ImageRow, classNames: Map<number, string>, thumbnails: Map<number, string> | undefined, keeper: boolean): string {
  const thumb = safeThumbnail(thumbnails?.get(image.id));
  const className = image.classId === null ? 'unlabeled' : (classNames.get(image.classId) ?? `class #${image.classId}`);
  const badges = [keeper ? '<span class="tag keep">keep</span>' : '', image.status === 'excluded' ? '<span class="tag">excluded</span>' : ''].join('');
  return `<div class="image">${thumb ? `<img src="${esc(thumb)}" alt="${esc(image.fileName)}">` : ''}<div class="image-text"><div class="file-name">${esc(image.fileName)}${badges}</div><div class="muted">${esc(className)} · ${esc(image.split ?? 'no split')} · ${count(image.width)} × ${count(image.height)}</div><div class="path">${pathHtml(image.path)}</div></div></div>`;
}

function findingBlock(f: FindingView, classNames: Map<number, string>, thumbnails: Map<number, string> | undefined): string {
  const badges = [
    f.spansSplits ? '<span class="badge leak">leak across splits</span>' : '',
    f.spansClasses ? '<span class="badge conflict">labels disagree</span>' : '',
  ].join('');
  const suggestion = suggestionText(f.suggestion);
  const keeperId = f.suggestion?.action === 'keep' ? f.suggestion.imageId : null;
  const classes = f.classes?.length ? `<div class="overlap">${f.classes.map((c) => esc(c.name)).join(' ↔ ')}</div>` : '';
  const images = f.images.map((img) => imageBlock(img, classNames, thumbnails, img.id === keeperId)).join('');
  const imagePaths = new Set(f.images.map((img) => img.path));
  const otherFiles = f.files.filter((p) => !imagePaths.has(p));
  const files = otherFiles.length ? `<ul class="files">${otherFiles.map((p) => `<li class="path">${pathHtml(p)}</li>`).join('')}</ul>` : '';
  return `<div class="finding"><div class="finding-head"><span class="score" title="Score: higher is more certain or more severe">${esc(f.score.toFixed(2))}</span><span class="explanation">${esc(f.explanation)}</span>${badges}</div>${suggestion ? `<div class="suggestion">Suggested: <strong>${esc(suggestion)}</strong></div>` : ''}${classes}<div class="images">${images}</div>${files}</div>`;
}

function kindSection(kind: FindingKind, open: FindingView[], openCount: number, classNames: Map<number, string>, thumbnails: Map<number, string> | undefined): string {
  const shown = open.slice(0, FINDINGS_PER_KIND);
  const more = Math.max(openCount, open.length) - shown.length;
  const moreLine = more > 0 ? `<p class="more">… and ${count(more)} more ${more === 1 ? 'finding' : 'findings'}, open Seedbed to review them all.</p>` : '';
  return `<section class="kind" id="kind-${kind}"><h2>${esc(KIND_TITLES[kind])} <span class="muted">(${count(Math.max(openCount, open.length))} open)</span></h2><p class="note">${esc(FINDING_DESCRIPTIONS[kind])}</p>${shown.map((f) => findingBlock(f, classNames, thumbnails)).join('')}${moreLine}</section>`;
}

const CSS = `
*{box-sizing:border-box}
html{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0 auto;max-width:980px;padding:32px 28px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d2330;background:#fff}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:0 0 6px;padding-top:4px}
h3{font-size:14px;margin:0 0 8px;color:#4a5262}
section{margin:0 0 28px}
.generated,.note,.muted{color:#5d6575}
.note{margin:0 0 10px}
.empty{padding:10px 12px;background:#f4f6f9;border-radius:6px;color:#4a5262}
.summary{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin-top:18px}
.card{border:1px solid #dde1e8;border-radius:8px;padding:10px 12px}
.card-value{font-size:22px;font-weight:600}
.card-label{color:#5d6575;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.hint{margin:8px 0 0;color:#9a4a00}
.bars{margin:6px 0 12px}
.bar-row{display:grid;grid-template-columns:150px 1fr 90px;gap:10px;align-items:center;margin:3px 0}
.bar-label{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.bar-track{background:#eef0f4;border-radius:3px;height:14px}
.bar{height:14px;border-radius:3px;min-width:1px}
.bar-value{font-variant-numeric:tabular-nums}
.stack{display:flex;height:18px;border-radius:4px;overflow:hidden;margin:4px 0 10px;background:#eef0f4}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e7ec;vertical-align:top}
th{font-size:12px;color:#5d6575;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.counts{width:auto;min-width:50%}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.two-col{display:grid;grid-template-columns:3fr 2fr;gap:28px}
.findings .kind-title{font-weight:600;white-space:nowrap}
.findings .description{color:#4a5262}
.findings tr.has-open .open{font-weight:700;color:#9a4a00}
.notes{margin:0 0 10px;color:#5d6575}
a{color:#1f5fbf}
.kind{border-top:2px solid #dde1e8;padding-top:14px}
.finding{border:1px solid #dde1e8;border-radius:8px;padding:10px 12px;margin:0 0 10px;break-inside:avoid}
.finding-head{display:flex;flex-wrap:wrap;gap:8px;align-items:baseline}
.score{font-variant-numeric:tabular-nums;font-weight:700;background:#eef0f4;border-radius:4px;padding:0 6px}
.explanation{flex:1 1 300px}
.badge{font-size:12px;font-weight:600;border-radius:10px;padding:1px 8px;white-space:nowrap}
.badge.leak{background:#fde2e1;color:#a61b14;border:1px solid #f3b3ae}
.badge.conflict{background:#fff1d6;color:#8a5200;border:1px solid #f0cf8c}
.suggestion{margin:4px 0}
.overlap{font-weight:600;margin:4px 0}
.images{display:flex;flex-wrap:wrap;gap:10px;margin-top:6px}
.image{display:flex;gap:8px;align-items:flex-start;min-width:240px;max-width:460px;flex:1 1 240px}
.image img{max-width:96px;max-height:96px;border-radius:4px;border:1px solid #dde1e8;flex:none}
.image-text{min-width:0}
.file-name{font-weight:600;overflow-wrap:anywhere}
.path{font-size:11px;color:#6b7384;overflow-wrap:anywhere}
.tag{font-size:11px;font-weight:600;margin-left:6px;padding:0 6px;border-radius:8px;background:#eef0f4;color:#4a5262}
.tag.keep{background:#dff3e4;color:#1d6b34}
.files{margin:6px 0 0;padding-left:18px}
.more{font-style:italic;color:#5d6575}
footer{color:#8a8f98;font-size:12px;border-top:1px solid #e4e7ec;padding-top:8px}
@media (max-width:760px){.summary{grid-template-columns:repeat(3,1fr)}.two-col{grid-template-columns:1fr}}
@media print{body{max-width:none;padding:0;font-size:12px}.summary{grid-template-columns:repeat(6,1fr)}.two-col{grid-template-columns:3fr 2fr}a{color:inherit;text-decoration:none}.kind{break-before:auto}h2{break-after:avoid}}
@page{margin:16mm}
`;

/** The dataset's health as one self-contained HTML document (no external resources). */
export function healthReportHtml(
  health: DatasetHealth,
  findings: { kind: FindingKind; items: FindingView[] }[],
  options: HealthReportOptions = {},
): string {
  const classNames = new Map(health.classes.map((c) => [c.id, c.name]));
  const openByKind = new Map<FindingKind, FindingView[]>();
  for (const { kind, items } of findings) {
    const open = items.filter((f) => f.state === 'open' && f.kind === kind);
    openByKind.set(kind, [...(openByKind.get(kind) ?? []), ...open]);
  }
  const kindsWithOpen = FINDING_KINDS.filter((k) => (openByKind.get(k)?.length ?? 0) > 0);
  const sections = kindsWithOpen
    .map((k) => {
      const open = [...openByKind.get(k)!].sort((a, b) => b.score - a.score);
      return kindSection(k, open, health.findings[k].open, classNames, options.thumbnails);
    })
    .join('');
  const title = `Dataset health — ${health.projectName}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Seedbed">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${esc(title)}</h1><div class="generated">Generated ${esc(formatDate(health.generatedAt))} by Seedbed</div></header>
${summarySection(health)}
${classBalanceSection(health)}
${splitBalanceSection(health)}
${sizesSection(health)}
${findingsTableSection(health, new Set(kindsWithOpen))}
${sections}
<footer>Seedbed never changes your files: excluding or relabelling an image only changes the project.</footer>
</body>
</html>
`;
}
