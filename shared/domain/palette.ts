/** Distinct, colour-blind-friendly class colours (Okabe–Ito first, then Tableau). */
export const CLASS_COLOURS = [
  '#e69f00', '#56b4e9', '#009e73', '#f0e442', '#0072b2', '#d55e00', '#cc79a7',
  '#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1',
  '#ff9da7', '#9c755f', '#bab0ac',
] as const;

/** The first palette colour not yet used, cycling when all are taken. */
export function nextClassColour(used: readonly string[]): string {
  const taken = new Set(used.map((c) => c.toLowerCase()));
  return CLASS_COLOURS.find((c) => !taken.has(c)) ?? CLASS_COLOURS[used.length % CLASS_COLOURS.length]!;
}
