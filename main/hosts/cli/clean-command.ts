/** `seedbed clean`: run the dataset checks and print what they found. */
import { FINDING_KINDS, type FindingKind, type FindingView } from '../../../shared/contract/index.ts';
import { KIND_TITLES, suggestionText } from '../../../shared/domain/findings.ts';
import { UsageError, type ParsedArgs } from './args.ts';
import { EXIT_INTERRUPTED } from './import-command.ts';
import { followJob } from './ml-commands.ts';
import { duration } from './progress.ts';
import { call, CliFailure, count, createCore, openProject, writeFully } from './session.ts';

/** One line of `seedbed clean --json`. */
export interface CleanIssue {
  kind: FindingKind;
  /** The image files it is about (every path of an exact duplicate; the file itself when it never imported). */
  images: string[];
  score: number;
  /** What to do, in words. */
  suggested: string;
  explanation: string;
}

/** Findings printed per kind in the sentences output (JSON lists them all). */
const SHOWN_PER_KIND = 10;

function parseKinds(raw: string | undefined): FindingKind[] | undefined {
  if (raw === undefined) return undefined;
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(FINDING_KINDS as readonly string[]).includes(n));
  if (!names.length || unknown.length) {
    throw new UsageError(`--only takes kinds separated by commas; ${unknown.length ? `"${unknown.join('", "')}" ${unknown.length === 1 ? 'is' : 'are'} not one` : 'none was given'}. The kinds: ${FINDING_KINDS.join(', ')}.`, 'clean');
  }
  return [...new Set(names)] as FindingKind[];
}

function issueOf(f: FindingView): CleanIssue {
  const paths = f.kind === 'exact_duplicate' || !f.images.length ? f.files : f.images.map((i) => i.path);
  let suggested = suggestionText(f.suggestion);
  if (f.kind === 'exact_duplicate') {
    suggested = f.spansClasses
      ? 'check which label is right, then delete the copies on disk you do not want'
      : 'delete the extra copies on disk (Seedbed counts the image once)';
  }
  if (f.suggestion?.action === 'keep' && f.kind === 'near_duplicate') {
    const keep = f.images.find((i) => i.id === (f.suggestion as { imageId: number }).imageId);
    if (keep) suggested = `keep ${keep.path}, exclude the others`;
  }
  return { kind: f.kind, images: paths, score: Math.round(f.score * 1000) / 1000, suggested, explanation: f.explanation };
}

export async function runClean(args: ParsedArgs): Promise<number> {
  const kinds = parseKinds(args.values.only);
  const json = args.flags.has('json');
  const core = await createCore('cli');
  try {
    await openProject(core, args.values.project!, false);
    const { job, interrupted } = await followJob(
      core,
      async () => (await call(core, 'clean.start', { ...(kinds ? { kinds } : {}), ...(args.values.backbone ? { backbone: args.values.backbone } : {}) })).jobId,
      (j) => (j.total > 0 ? `Checking the dataset: ${Math.round((100 * j.done) / j.total)}%${j.etaSeconds !== null ? ` · about ${duration(j.etaSeconds)} left` : ''}` : 'Preparing…'),
    );
    if (job.status === 'cancelled' || interrupted) {
      await writeFully(process.stderr, 'The check was cancelled. Findings from earlier checks are kept as they were.\n');
      return EXIT_INTERRUPTED;
    }
    if (job.status === 'failed') throw new CliFailure(job.error ?? 'The check failed.');
    const ran = kinds ?? [...FINDING_KINDS];
    const issues: CleanIssue[] = [];
    const byKind = new Map<FindingKind, FindingView[]>();
    for (const kind of ran) {
      const found: FindingView[] = [];
      for (let offset = 0; ; offset += 500) {
        const page = await call(core, 'findings.list', { kinds: [kind], state: 'open', offset, limit: 500 });
        found.push(...page.findings);
        if (found.length >= page.total) break;
      }
      byKind.set(kind, found);
      issues.push(...found.map(issueOf));
    }
    const counts = Object.fromEntries(ran.map((k) => [k, byKind.get(k)!.length])) as Record<FindingKind, number>;
    let reportPath: string | null = null;
    if (args.values.report !== undefined) reportPath = (await call(core, 'health.report', { dir: args.values.report })).path;
    if (json) {
      await writeFully(process.stdout, `${JSON.stringify({ issues, counts, ...(reportPath ? { report: reportPath } : {}) })}\n`);
      return 0;
    }
    const health = await call(core, 'health.summary', {});
    const lines: string[] = [];
    const total = issues.length;
    lines.push(
      total === 0
        ? `No problems found in ${count(health.active)} images (${duration(health.lastCheck?.seconds ?? 0)}).`
        : `${count(total)} possible problem${total === 1 ? '' : 's'} in ${count(health.active)} images (checked in ${duration(health.lastCheck?.seconds ?? 0)}${health.lastCheck?.backbone ? ` with ${health.lastCheck.backbone}` : ''}):`,
    );
    for (const kind of ran) {
      const found = byKind.get(kind)!;
      if (!found.length) continue;
      lines.push('', `${KIND_TITLES[kind]} (${kind}): ${found.length}`);
      for (const f of found.slice(0, SHOWN_PER_KIND)) {
        const issue = issueOf(f);
        lines.push(`  ${issue.score.toFixed(2)}  ${f.explanation}`);
        for (const p of issue.images.slice(0, 4)) lines.push(`        ${p}`);
        if (issue.images.length > 4) lines.push(`        … and ${issue.images.length - 4} more`);
        if (issue.suggested) lines.push(`        → ${issue.suggested}`);
      }
      if (found.length > SHOWN_PER_KIND) lines.push(`  … and ${found.length - SHOWN_PER_KIND} more (all of them with --json, or in the studio's Clean view).`);
    }
    for (const note of health.lastCheck?.notes ?? []) lines.push('', `Note: ${note}`);
    const dismissed = ran.reduce((n, k) => n + health.findings[k].dismissed, 0);
    if (dismissed) lines.push('', `${count(dismissed)} finding${dismissed === 1 ? ' you dismissed is' : 's you dismissed are'} not shown again.`);
    if (reportPath) lines.push('', `Report: ${reportPath}`);
    if (total) lines.push('', 'Review and fix them in the studio (Clean view): nothing is changed on disk, and every fix can be undone.');
    await writeFully(process.stdout, `${lines.join('\n')}\n`);
    return 0;
  } finally {
    await core.close();
  }
}
