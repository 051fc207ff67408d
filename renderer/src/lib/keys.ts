import { modKey } from './format.ts';

export interface Shortcut {
  keys: string[];
  what: string;
}

export interface ShortcutGroup {
  title: string;
  items: Shortcut[];
}

/** Every shortcut, for the help overlay; the handlers live with the views they act in. */
export const SHORTCUTS: ShortcutGroup[] = [
  {
    title: 'Labeling',
    items: [
      { keys: ['1 … 9'], what: 'Label the selection with the class that has this key' },
      { keys: ['0', 'Backspace'], what: 'Remove the label from the selection' },
      { keys: ['X'], what: 'Exclude the selection (or restore it when viewing excluded images)' },
      { keys: ['T'], what: 'Edit tags of the selection' },
      { keys: ['A'], what: 'Accept the model’s prediction as the label of the selection' },
      { keys: ['Drag tiles onto a class'], what: 'Label the dragged images with that class' },
    ],
  },
  {
    title: 'Selecting',
    items: [
      { keys: ['Click'], what: 'Select one image' },
      { keys: ['Shift + Click'], what: 'Select a range' },
      { keys: [`${modKey} + Click`], what: 'Add or remove one image' },
      { keys: [`${modKey} + A`], what: 'Select every image the filters show' },
      { keys: ['Esc'], what: 'Clear the selection' },
      { keys: ['← ↑ → ↓'], what: 'Move between images' },
      { keys: ['Shift + arrows'], what: 'Extend the selection' },
      { keys: ['Home', 'End'], what: 'First or last image' },
      { keys: ['Page Up', 'Page Down'], what: 'Move a screen up or down' },
    ],
  },
  {
    title: 'Preview',
    items: [
      { keys: ['Enter', 'Space', 'Double-click'], what: 'Open the large preview' },
      { keys: ['←', '→'], what: 'Previous or next image' },
      { keys: ['1 … 9', '0', 'X'], what: 'Label, unlabel or exclude the image shown' },
      { keys: ['A'], what: 'Accept the model’s prediction for the image shown' },
      { keys: ['Esc'], what: 'Close the preview' },
    ],
  },
  {
    title: 'Project',
    items: [
      { keys: [`${modKey} + Z`], what: 'Undo' },
      { keys: [`${modKey} + Shift + Z`, `${modKey} + Y`], what: 'Redo' },
      { keys: [`${modKey} + 1 … 5`], what: 'Show the Dataset, Train, Clean, Balance or Evaluate view' },
      { keys: [`${modKey} + I`], what: 'Import images' },
      { keys: [`${modKey} + F`, '/'], what: 'Search file names' },
      { keys: ['F2'], what: 'Rename the focused class' },
      { keys: ['Alt + ↑', 'Alt + ↓'], what: 'Move the focused class up or down' },
      { keys: ['?'], what: 'Show this help' },
    ],
  },
];

/** True when a key press belongs to a text field, so single-key shortcuts must not fire. */
export function isTyping(event: KeyboardEvent): boolean {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !['checkbox', 'radio', 'button', 'range', 'submit', 'reset'].includes(target.type);
  }
  return false;
}

/** Ctrl on Windows/Linux, ⌘ on macOS. */
export function hasMod(event: KeyboardEvent | MouseEvent): boolean {
  return event.ctrlKey || event.metaKey;
}
