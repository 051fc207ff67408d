/** Black or white, whichever reads better on a #rrggbb background. */
export function textOn(hex: string): string {
  const n = Number.parseInt(hex.slice(1), 16);
  if (Number.isNaN(n)) return '#000';
  const channel = (shift: number) => {
    const c = ((n >> shift) & 255) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(16) + 0.7152 * channel(8) + 0.0722 * channel(0);
  return luminance > 0.36 ? '#111' : '#fff';
}

/** Names for the palette's colours, for screen readers and tooltips. */
export const COLOUR_NAMES: Record<string, string> = {
  '#e69f00': 'orange',
  '#56b4e9': 'sky blue',
  '#009e73': 'bluish green',
  '#f0e442': 'yellow',
  '#0072b2': 'blue',
  '#d55e00': 'vermilion',
  '#cc79a7': 'reddish purple',
  '#4e79a7': 'steel blue',
  '#f28e2b': 'tangerine',
  '#59a14f': 'green',
  '#e15759': 'red',
  '#76b7b2': 'teal',
  '#edc948': 'mustard',
  '#b07aa1': 'mauve',
  '#ff9da7': 'pink',
  '#9c755f': 'brown',
  '#bab0ac': 'grey',
};
