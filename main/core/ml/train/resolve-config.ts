import { DEFAULT_TRAIN_CONFIG, type TrainConfig, type TrainConfigPatch } from '../../../../shared/contract/training.ts';

/**
 * The full config of a run from what was sent. `balance` decides the class weights; a client
 * that only sends the older `classWeights` gets the matching strategy. Pure, so the training
 * worker resolves a search's trial configs exactly as a run's.
 */
export function resolveConfig(patch: TrainConfigPatch): TrainConfig {
  const given = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as TrainConfigPatch;
  const config = { ...DEFAULT_TRAIN_CONFIG, ...given } as TrainConfig;
  if (!given.balance && given.classWeights) config.balance = { strategy: given.classWeights === 'balanced' ? 'weights' : 'none' };
  const weighs = config.balance.strategy === 'weights' || config.balance.strategy === 'oversample+weights';
  config.classWeights = weighs ? 'balanced' : 'none';
  if (!config.augment.policy) config.augment = { policy: null, views: 0 };
  return config;
}
