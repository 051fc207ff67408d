/**
 * Top-layer popovers (menus, filter panels) are never clipped by a scrolling parent, so they
 * are placed by hand: under their button, aligned to its start or end, kept on screen, and
 * flipped above it when there is no room below.
 */
export function placeBeside(anchor: HTMLElement, panel: HTMLElement, align: 'start' | 'end'): void {
  const r = anchor.getBoundingClientRect();
  const m = panel.getBoundingClientRect();
  let left = align === 'end' ? r.right - m.width : r.left;
  left = Math.max(8, Math.min(left, window.innerWidth - m.width - 8));
  let top = r.bottom + 4;
  if (top + m.height > window.innerHeight - 8) top = Math.max(8, r.top - m.height - 4);
  panel.style.left = `${left}px`;
  panel.style.top = `${top}px`;
}
