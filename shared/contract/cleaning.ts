/**
 * Data cleaning in the contract: findings (what the detectors found), the actions that fix
 * them, and the dataset health summary. Imported by index.ts, which declares the methods.
 */
import { z } from 'zod';
import type { ImageRow, SplitCounts } from './index.ts';

/** Every kind of finding, named exactly as the CLI prints them. */
export const FINDING_KINDS = [
  'exact_duplicate',
  'near_duplicate',
  'corrupt',
  'blurry',
  'dark',
  'bright',
  'low_information',
  'too_small',
  'odd_aspect',
  'grayscale',
  'outlier',
  'label_issue',
  'class_overlap',
] as const;
export const findingKindSchema = z.enum(FINDING_KINDS);
export type FindingKind = z.infer<typeof findingKindSchema>;

export const FINDING_STATES = ['open', 'fixed', 'dismissed'] as const;
export type FindingState = (typeof FINDING_STATES)[number];

/** What the detector suggests doing about a finding. */
export type FindingSuggestion =
  /** Leave the image(s) out of training (the file is never touched). */
  | { action: 'exclude' }
  /** Relabel the image to the class the model believes, with its out-of-fold probability. */
  | { action: 'relabel'; classId: number; className: string; probability: number }
  /** A group of copies: keep this one, exclude the others. */
  | { action: 'keep'; imageId: number }
  /** Nothing Seedbed can do in the project (a file that never imported: fix or delete it on disk). */
  | { action: 'fix_file' }
  /** Look at the examples; no single action fixes it (class overlap). */
  | { action: 'review' };

export interface FindingView {
  id: number;
  kind: FindingKind;
  state: FindingState;
  /** Higher = more certain or more severe; comparable within a kind only. */
  score: number;
  /** One line for a person: what is wrong and how Seedbed knows. */
  explanation: string;
  suggestion: FindingSuggestion | null;
  /** The images it is about, most relevant first (for duplicates: the suggested keeper first). */
  images: ImageRow[];
  /** Files it is about that are not images of the project (corrupt files the import skipped), or every path of an exact duplicate. */
  files: string[];
  /** Duplicate groups: the copies sit in more than one split (test results are inflated) or carry different labels. */
  spansSplits: boolean;
  spansClasses: boolean;
  /** Class overlap: the two classes. */
  classes?: { id: number; name: string }[];
  detectedAt: number;
  updatedAt: number;
}

export interface FindingCounts {
  open: number;
  fixed: number;
  dismissed: number;
}

export interface FindingsPage {
  total: number;
  offset: number;
  findings: FindingView[];
  /** Per kind, all states, whatever the filter. */
  counts: Record<FindingKind, FindingCounts>;
}

export const findingActionSchema = z.enum(['keep', 'exclude', 'relabel', 'dismiss', 'reopen']);
export type FindingAction = z.infer<typeof findingActionSchema>;

/** How the last cleaning check went: when, what it ran, what it could not do. */
export interface CleanCheck {
  at: number;
  kinds: FindingKind[];
  seconds: number;
  /** Backbone whose embeddings the outlier, near-duplicate and label checks used, or null. */
  backbone: string | null;
  /** Detectors skipped or limited, and why, in words. */
  notes: string[];
  /** Seconds per stage (measuring, embeddings, near-duplicates, outliers, label check), for the curious and the benchmark. */
  stages?: Record<string, number>;
}

export interface DatasetHealth {
  projectName: string;
  images: number;
  active: number;
  excluded: number;
  unlabeled: number;
  classes: { id: number; name: string; colour: string; counts: SplitCounts }[];
  /** Largest class over smallest (labelled, active); null with fewer than 2 classes. */
  imbalanceRatio: number | null;
  splits: SplitCounts;
  formats: Record<string, number>;
  /** Image sizes by their longer side, in buckets (label → count). */
  sizes: { label: string; count: number }[];
  /** Smallest and largest image (width × height), null for an empty project. */
  smallest: { width: number; height: number } | null;
  largest: { width: number; height: number } | null;
  findings: Record<FindingKind, FindingCounts>;
  lastCheck: CleanCheck | null;
  generatedAt: number;
}

export const findingsQuerySchema = z
  .object({
    kinds: z.array(findingKindSchema).max(FINDING_KINDS.length).optional(),
    /** Default open. */
    state: z.enum(['open', 'fixed', 'dismissed', 'all']).optional(),
    offset: z.number().int().min(0).optional(),
    limit: z.number().int().min(1).max(500).optional(),
  })
  .strict();
