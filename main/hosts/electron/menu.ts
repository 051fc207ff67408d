// The application menu as a template (main.ts builds it with Menu.buildFromTemplate), so
// node:test can check it without an Electron binary.
import type { KeyboardEvent, MenuItemConstructorOptions } from 'electron';
import nodePath from 'node:path';

export interface MenuActions {
  newProject(): void;
  openProject(): void;
  openRecent(path: string): void;
  importFolder(): void;
  importCsv(): void;
  closeProject(): void;
  /** Undo or redo the last label, exclusion or class change (the project's history). */
  undo(): void;
  redo(): void;
  /** Select every image the filters show (the page decides, as for its own Ctrl+A). */
  selectAll(): void;
  /** The browser's own editing command in the focused text field. */
  editText(command: 'undo' | 'redo' | 'selectAll'): void;
  showShortcuts(): void;
}

export interface MenuOptions {
  dev: boolean;
  hasProject: boolean;
  platform: NodeJS.Platform;
}

/**
 * The application menu. A key press reaches the page before the menu: when the page acts on
 * Ctrl+Z, Ctrl+Shift+Z or Ctrl+A itself (no text field has focus) it calls preventDefault
 * and the menu never sees the key. When a text field has focus the page leaves the key
 * alone; on Windows and Linux Chromium then edits the text itself, but on macOS only the
 * menu's key equivalent does. So a menu item reached by its accelerator edits the text
 * (`editText`), and one clicked with the mouse acts on the project. Import and the
 * shortcut help only show their keys (`registerAccelerator: false`): the page handles
 * them, and a bare `?` must stay typeable. macOS registers every accelerator it is given, so
 * there `?` is named in the label instead.
 */
export function menuTemplate(recent: string[], actions: MenuActions, options: MenuOptions): MenuItemConstructorOptions[] {
  const isMac = options.platform === 'darwin';
  const recentItems: MenuItemConstructorOptions[] = recent.length
    ? recent.map((path) => ({ label: `${nodePath.basename(path)}  —  ${nodePath.dirname(path)}`, click: () => actions.openRecent(path) }))
    : [{ label: 'No recent projects', enabled: false }];
  const byKeyOrMouse =
    (command: 'undo' | 'redo' | 'selectAll', onProject: () => void) =>
    (_item: unknown, _window: unknown, event: KeyboardEvent): void => {
      if (event.triggeredByAccelerator) actions.editText(command);
      else onProject();
    };

  return [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    {
      label: '&File',
      submenu: [
        { label: 'New Project…', accelerator: 'CmdOrCtrl+N', click: () => actions.newProject() },
        { label: 'Open Project…', accelerator: 'CmdOrCtrl+O', click: () => actions.openProject() },
        { label: 'Open Recent', submenu: recentItems },
        { type: 'separator' },
        { label: 'Import Folder…', accelerator: 'CmdOrCtrl+I', registerAccelerator: false, enabled: options.hasProject, click: () => actions.importFolder() },
        { label: 'Import CSV…', enabled: options.hasProject, click: () => actions.importCsv() },
        { type: 'separator' },
        { label: 'Close Project', enabled: options.hasProject, click: () => actions.closeProject() },
        ...(isMac ? [] : [{ type: 'separator' as const }, { role: 'quit' as const, accelerator: 'CmdOrCtrl+Q' }]),
      ],
    },
    {
      label: '&Edit',
      submenu: [
        { label: 'Undo', accelerator: 'CmdOrCtrl+Z', click: byKeyOrMouse('undo', () => actions.undo()) },
        { label: 'Redo', accelerator: 'CmdOrCtrl+Shift+Z', click: byKeyOrMouse('redo', () => actions.redo()) },
        { type: 'separator' },
        { role: 'cut' },
        { role: 'copy' },
        { role: 'paste' },
        { label: 'Select All', accelerator: 'CmdOrCtrl+A', click: byKeyOrMouse('selectAll', () => actions.selectAll()) },
      ],
    },
    {
      label: '&View',
      submenu: [
        ...(options.dev
          ? [{ role: 'reload' as const }, { role: 'toggleDevTools' as const }, { type: 'separator' as const }]
          : []),
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    ...(isMac ? [{ role: 'windowMenu' as const }] : []),
    {
      label: '&Help',
      ...(isMac ? { role: 'help' as const } : {}),
      submenu: [
        isMac
          ? { label: 'Keyboard Shortcuts (?)', click: () => actions.showShortcuts() }
          : { label: 'Keyboard Shortcuts', accelerator: '?', registerAccelerator: false, click: () => actions.showShortcuts() },
      ],
    },
  ];
}
