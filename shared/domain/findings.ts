/**
 * Words for findings, shared by the core's HTML health report and the renderer's review
 * screens so both describe a kind and a suggestion the same way.
 */
import type { FindingKind, FindingSuggestion } from '../contract/cleaning.ts';

/** A short title per kind, for headings and menus. */
export const KIND_TITLES: Record<FindingKind, string> = {
  exact_duplicate: 'Exact duplicates',
  near_duplicate: 'Near-duplicates',
  corrupt: 'Unreadable files',
  blurry: 'Blurry',
  dark: 'Too dark',
  bright: 'Too bright',
  low_information: 'Low information',
  too_small: 'Too small',
  odd_aspect: 'Odd aspect ratio',
  grayscale: 'Greyscale among colour',
  outlier: 'Outliers',
  label_issue: 'Possible label errors',
  class_overlap: 'Overlapping classes',
};

/** One plain sentence per kind: what it means and why it matters for training. */
export const FINDING_DESCRIPTIONS: Record<FindingKind, string> = {
  exact_duplicate: 'The same file content appears more than once; copies give one image extra weight and, across splits, inflate test results.',
  near_duplicate: 'Images that are re-encoded, resized, cropped or shifted copies of each other; across splits they inflate test results.',
  corrupt: 'Files that could not be read as images, or decoded with warnings.',
  blurry: 'Images much less sharp than the rest of the dataset.',
  dark: 'Images much darker than the rest of the dataset.',
  bright: 'Images much brighter or more washed out than the rest of the dataset.',
  low_information: 'Images with almost no contrast or detail, such as blank or nearly uniform shots.',
  too_small: 'Images far smaller than the rest, which lose detail when scaled up for the model.',
  odd_aspect: 'Images whose width-to-height ratio is far from the rest, which get distorted when resized.',
  grayscale: 'Black-and-white images in a dataset that is mostly in colour.',
  outlier: 'Images unlike everything else, or unlike the rest of their class: possibly from another domain or a stray.',
  label_issue: 'Images whose label the model, trained without them, confidently disagrees with: possibly mislabelled.',
  class_overlap: 'Pairs of classes the model often confuses; their definitions or examples may overlap.',
};

/** The suggested action in words ("Relabel to glass (91%)"); empty when there is none. */
export function suggestionText(s: FindingSuggestion | null): string {
  if (s === null) return '';
  switch (s.action) {
    case 'exclude':
      return 'Exclude';
    case 'relabel':
      return `Relabel to ${s.className} (${Math.round(s.probability * 100)}%)`;
    case 'keep':
      return 'Keep one copy, exclude the others';
    case 'fix_file':
      return 'Fix or delete the file on disk';
    case 'review':
      return 'Review the examples';
  }
}
