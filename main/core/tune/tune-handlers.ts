/** The contract's auto-tune methods: start, watch, resume, stop, promote and delete hyperparameter searches. */
import type { Handlers } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { cancelSearch, deleteSearch, getSearch, listSearches, promoteTrial, resumeSearch, startSearch } from './search-job.ts';

export type TuneMethods = 'tune.start' | 'tune.list' | 'tune.get' | 'tune.resume' | 'tune.cancel' | 'tune.promote' | 'tune.delete';

export function tuneHandlers(ctx: CoreContext): Pick<Handlers, TuneMethods> {
  const db = () => ctx.requireStore().db;
  return {
    'tune.start': (params) => startSearch(ctx, params),
    'tune.list': () => listSearches(db()),
    'tune.get': ({ searchId }) => getSearch(db(), searchId),
    'tune.resume': ({ searchId }) => resumeSearch(ctx, searchId),
    'tune.cancel': ({ searchId }) => cancelSearch(ctx, searchId),
    'tune.promote': ({ searchId, trial }) => promoteTrial(ctx, searchId, trial),
    'tune.delete': ({ searchId }) => deleteSearch(ctx, searchId),
  };
}
