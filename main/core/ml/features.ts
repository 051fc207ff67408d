/**
 * What an image's embedding is: the backbone's feature maps, globally average-pooled, taken at
 * two depths and concatenated: the last block at 14×14 (textures, materials, parts) and the
 * last block (objects). Measured on TrashNet with MobileNet v1 α0.75 and the default head: test
 * accuracy about 0.86 with both versus about 0.81 with the last block alone.
 */
import type { CanonicalBackbone, FeatureTap } from './canonical.ts';

export function featureTaps(b: CanonicalBackbone): FeatureTap[] {
  const ends = b.blockEnds;
  const last = ends[ends.length - 1]!;
  const spatial = (name: string) => {
    const shape = b.model.getLayer(name).outputShape as number[];
    return shape[1];
  };
  const mid = [...ends].reverse().find((name) => spatial(name) === 14);
  return mid && mid !== last ? [{ layer: mid, pooling: 'avg' }, { layer: last, pooling: 'avg' }] : [{ layer: last, pooling: 'avg' }];
}

/** Width of each tap's pooled features, in order. */
export function tapWidths(b: CanonicalBackbone, taps: FeatureTap[]): number[] {
  return taps.map((t) => {
    const shape = b.model.getLayer(t.layer).outputShape as number[];
    return shape[3]! * (t.pooling === 'avg+max' ? 2 : 1);
  });
}
