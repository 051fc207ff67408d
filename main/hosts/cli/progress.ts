import type { JobInfo } from '../../../shared/contract/index.ts';
import { count } from './session.ts';

/**
 * One line on a terminal, rewritten in place: "Importing 1,204 / 2,527 images · 84 images/s
 * · about 16 s left". Nothing is written when stderr is not a terminal (logs, pipes).
 */
export class ProgressLine {
  #shown = false;
  #last = 0;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  update(job: JobInfo, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const parts = [job.total > 0 ? `Importing ${count(job.done)} / ${count(job.total)} images` : `Looking for images… ${count(job.done)}`];
    if (job.rate > 0) parts.push(`${job.rate >= 10 ? Math.round(job.rate) : job.rate.toFixed(1)} images/s`);
    if (job.etaSeconds !== null && job.total > 0) parts.push(`about ${duration(job.etaSeconds)} left`);
    const columns = this.stream.columns || 80;
    const text = parts.join(' · ').slice(0, columns - 1);
    this.stream.write(`\r\x1b[2K${text}`);
    this.#shown = true;
  }

  /** Shows a word in place of the counts ("Cancelling…"). */
  note(text: string): void {
    if (!this.enabled) return;
    this.stream.write(`\r\x1b[2K${text}`);
    this.#shown = true;
  }

  clear(): void {
    if (this.#shown) this.stream.write('\r\x1b[2K');
    this.#shown = false;
  }
}

/** "45 s", "3 min 20 s", "1 h 5 min" */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}
