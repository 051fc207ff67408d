import type { Core } from '../../core/core.ts';
import type { ParsedArgs } from './args.ts';
import { call, count, createCore, openProject, writeFully } from './session.ts';

export interface ClassCounts {
  total: number;
  train: number;
  val: number;
  test: number;
}

/** What `seedbed info --json` prints: exactly these keys. */
export interface ProjectSummary {
  images: number;
  excluded: number;
  unlabeled: number;
  classes: Record<string, ClassCounts>;
}

/** Active images per class name, in the project's class order (classes without images included). */
export async function classTotals(core: Core): Promise<Record<string, ClassCounts>> {
  const [summary, classes] = await Promise.all([call(core, 'dataset.summary', {}), call(core, 'classes.list', {})]);
  const out: Record<string, ClassCounts> = {};
  for (const c of classes) {
    const counts = summary.byClass[c.id];
    out[c.name] = { total: counts?.total ?? 0, train: counts?.train ?? 0, val: counts?.val ?? 0, test: counts?.test ?? 0 };
  }
  return out;
}

export async function runInfo(args: ParsedArgs): Promise<number> {
  const core = await createCore('cli');
  try {
    const project = await openProject(core, args.values.project!, false);
    const summary = await call(core, 'dataset.summary', {});
    const info: ProjectSummary = {
      images: summary.images,
      excluded: summary.excluded,
      unlabeled: summary.unlabeled,
      classes: await classTotals(core),
    };
    if (args.flags.has('json')) {
      await writeFully(process.stdout, `${JSON.stringify(info)}\n`);
      return 0;
    }
    const lines = [
      `${project.path}`,
      `${count(info.images)} images: ${count(summary.active)} in use, ${count(info.excluded)} excluded, ${count(info.unlabeled)} in use without a label.`,
    ];
    const rows = Object.entries(info.classes);
    if (rows.length === 0) {
      lines.push('The project has no classes yet.');
    } else {
      const header = ['class', 'total', 'train', 'val', 'test'];
      const table = [header, ...rows.map(([name, c]) => [name, count(c.total), count(c.train), count(c.val), count(c.test)])];
      const widths = header.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
      lines.push('');
      for (const row of table) {
        lines.push(`  ${row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  ')}`);
      }
    }
    await writeFully(process.stdout, `${lines.join('\n')}\n`);
    return 0;
  } finally {
    await core.close();
  }
}
