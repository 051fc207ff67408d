import type { JobInfo } from '../../../shared/contract/index.ts';
import { api } from '../api/index.ts';
import { attempt } from './toasts.svelte.ts';

/** Long-running work the core reports (imports for now), fed by job events. */
class Jobs {
  byId = $state.raw<ReadonlyMap<string, JobInfo>>(new Map());
  running = $derived([...this.byId.values()].filter((j) => j.status === 'running').sort((a, b) => a.startedAt - b.startedAt));

  update(job: JobInfo): void {
    const next = new Map(this.byId);
    next.set(job.id, job);
    this.byId = next;
  }

  get(id: string): JobInfo | undefined {
    return this.byId.get(id);
  }

  /** Jobs still running when this window (re)loaded keep showing their progress. */
  async load(): Promise<void> {
    const list = await api.call('jobs.list');
    this.byId = new Map(list.map((j) => [j.id, j]));
  }

  clear(): void {
    this.byId = new Map();
  }

  cancel(id: string): Promise<unknown> {
    return attempt(() => api.call('jobs.cancel', { jobId: id }));
  }
}

export const jobs = new Jobs();
