import type { MetricInterval } from '../../../../shared/contract/index.ts';

/** "72.3%". */
export function pct(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** "72.3% (67.8–76.4)": the value with its 95% interval, in percentage points. */
export function withInterval(m: MetricInterval): string {
  return `${pct(m.value)} (${(m.low * 100).toFixed(1)}–${(m.high * 100).toFixed(1)})`;
}

/** Half the interval's width in percentage points: how far the true value may plausibly be. */
export function halfWidthPoints(m: MetricInterval): number {
  return ((m.high - m.low) / 2) * 100;
}

/** A p-value as people read it: "< 0.001", "0.03", "0.41". */
export function pValue(p: number): string {
  if (p < 0.001) return '< 0.001';
  if (p < 0.01) return p.toFixed(3);
  return p.toFixed(2);
}

/** The classes' chart colours, cycling after eight. */
const PALETTE = ['#2b6cb0', '#d9700f', '#7b4bb7', '#1f8a70', '#b42318', '#8a6d00', '#0e7490', '#be185d'];
export function classColour(index: number): string {
  return PALETTE[index % PALETTE.length]!;
}
