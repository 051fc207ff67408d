/** The contract's cleaning methods: run the checks, list and act on findings, the health summary and its report. */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { Handlers } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { historyState, recordHistory } from '../data/history.ts';
import { thumbRelativePath } from '../media/thumbnails.ts';
import { startClean } from './detect.ts';
import { actOnFindings, queryFindings } from './findings-review.ts';
import { datasetHealth } from './health.ts';
import { healthReportHtml } from './health-report.ts';
import { FINDING_KINDS } from './findings-store.ts';

export type CleanMethods = 'clean.start' | 'findings.list' | 'findings.act' | 'health.summary' | 'health.report';

/** Findings per kind the report lists (it says how many more there are). */
const REPORT_PER_KIND = 20;

export function cleanHandlers(ctx: CoreContext): Pick<Handlers, CleanMethods> {
  const store = () => ctx.requireStore();
  return {
    'clean.start': ({ kinds, backbone }) => startClean(ctx, { ...(kinds ? { kinds } : {}), ...(backbone ? { backbone } : {}) }),
    'findings.list': (q) => queryFindings(store().db, q),
    'findings.act': ({ findingIds, action, imageId }) => {
      const db = store().db;
      const at = Date.now();
      const { result, entry } = db.transaction(() => {
        const done = actOnFindings(db, findingIds, action, imageId, at);
        if (done.entry) recordHistory(db, done.entry, at);
        return done;
      })();
      if (entry) {
        ctx.events.emit('findings.changed', { reason: action });
        ctx.events.emit('dataset.changed', { reason: 'findings' });
        ctx.events.emit('history.changed', historyState(db));
      }
      return result;
    },
    'health.summary': () => datasetHealth(store().db, store().path),
    'health.report': ({ dir }) => {
      const s = store();
      const health = datasetHealth(s.db, s.path);
      const sections = FINDING_KINDS.map((kind) => ({ kind, page: queryFindings(s.db, { kinds: [kind], state: 'open', limit: REPORT_PER_KIND }) }));
      const thumbnails = new Map<number, string>();
      for (const { page } of sections) {
        for (const f of page.findings) {
          for (const image of f.images.slice(0, 6)) {
            if (thumbnails.has(image.id)) continue;
            try {
              const bytes = fs.readFileSync(nodePath.join(s.dataDir, thumbRelativePath(image.sha256)));
              thumbnails.set(image.id, `data:image/jpeg;base64,${bytes.toString('base64')}`);
            } catch {
              // No thumbnail on disk (yet): the report names the file instead.
            }
          }
        }
      }
      const html = healthReportHtml(
        health,
        sections.map(({ kind, page }) => ({ kind, items: page.findings, total: page.counts[kind].open })),
        { thumbnails },
      );
      const target = nodePath.resolve(dir);
      if (fs.existsSync(target) && !fs.statSync(target).isDirectory()) throw new CoreError('invalid_input', `${target} is a file; choose a folder for the report.`);
      fs.mkdirSync(target, { recursive: true });
      const stamp = new Date(health.generatedAt).toISOString().slice(0, 10);
      const file = nodePath.join(target, `${health.projectName} health ${stamp}.html`);
      fs.writeFileSync(file, html);
      return { path: file, bytes: Buffer.byteLength(html) };
    },
  };
}
