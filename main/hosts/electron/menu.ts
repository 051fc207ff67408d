import { Menu, type MenuItemConstructorOptions } from 'electron';
import nodePath from 'node:path';

export interface MenuActions {
  newProject(): void;
  openProject(): void;
  openRecent(path: string): void;
  importFolder(): void;
  importCsv(): void;
  closeProject(): void;
  undo(): void;
  redo(): void;
  selectAll(): void;
  showShortcuts(): void;
}

/**
 * The application menu. Undo, redo, select all, import and the shortcut help show the keys
 * the page already handles, but do not capture them (`registerAccelerator: false`): the key press goes to the page, which
 * knows whether a text field has focus (Ctrl+Z there undoes typing, not a label).
 */
export function buildMenu(recent: string[], actions: MenuActions, options: { dev: boolean; hasProject: boolean }): Menu {
  const isMac = process.platform === 'darwin';
  const recentItems: MenuItemConstructorOptions[] = recent.length
    ? recent.map((path) => ({ label: `${nodePath.basename(path)}  —  ${nodePath.dirname(path)}`, click: () => actions.openRecent(path) }))
    : [{ label: 'No recent projects', enabled: false }];

  const template: MenuItemConstructorOptions[] = [
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
        { label: 'Undo', accelerator: 'CmdOrCtrl+Z', registerAccelerator: false, click: () => actions.undo() },
        { label: 'Redo', accelerator: 'CmdOrCtrl+Shift+Z', registerAccelerator: false, click: () => actions.redo() },
        { type: 'separator' },
        { role: 'cut' },
        { role: 'copy' },
        { role: 'paste' },
        { label: 'Select All', accelerator: 'CmdOrCtrl+A', registerAccelerator: false, click: () => actions.selectAll() },
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
    {
      label: '&Help',
      submenu: [{ label: 'Keyboard Shortcuts', accelerator: '?', registerAccelerator: false, click: () => actions.showShortcuts() }],
    },
  ];
  return Menu.buildFromTemplate(template);
}
