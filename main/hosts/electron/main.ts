// Electron's main process: one window showing the renderer from app://seedbed/, the core
// behind one IPC channel, images through seedbed-media://, native dialogs and the menu.
// Everything before `app.whenReady()` runs synchronously at load: Electron loads an ESM
// main file asynchronously, and scheme registration and paths must be set before `ready`.
import { app, BrowserWindow, dialog, Menu, session, shell, type WebContents } from 'electron';
import fs from 'node:fs';
import nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostInfo, MethodName, ParamsOf, ProjectInfo, ResultOf } from '../../../shared/contract/index.ts';
import { Core } from '../../core/core.ts';
import { appVersion, defaultSampleDir, rendererDir } from '../app-paths.ts';
import { pickPaths } from './dialogs.ts';
import { registerIpc } from './ipc.ts';
import { buildMenu, type MenuActions } from './menu.ts';
import { handleAppScheme, handleMediaScheme, registerSchemes } from './protocols.ts';
import { APP_ENTRY_URL, isExternalWebUrl, parseLaunchArgs } from './urls.ts';

const BUNDLE_DIR = nodePath.dirname(fileURLToPath(import.meta.url));
const PRELOAD = nodePath.join(BUNDLE_DIR, 'preload.cjs');
const isDev = !app.isPackaged;
const launch = parseLaunchArgs(process.argv);

app.setName('Seedbed');
if (launch.userDataDir) app.setPath('userData', nodePath.resolve(launch.userDataDir));
registerSchemes();

let core: Core | null = null;
let mainWindow: BrowserWindow | null = null;
let quitting = false;

if (!app.requestSingleInstanceLock()) {
  // Another Seedbed is running; it gets our arguments through 'second-instance' and shows itself.
  app.quit();
} else {
  app.on('second-instance', (_event, argv, workingDirectory) => {
    const project = parseLaunchArgs(argv).project;
    if (project) void openAtLaunch(nodePath.resolve(workingDirectory, project));
    if (mainWindow) {
      if (mainWindow.isMinimized()) mainWindow.restore();
      mainWindow.focus();
    }
  });
  app.on('open-file', (event, path) => {
    // macOS: a .seedbed file double-clicked in the Finder.
    event.preventDefault();
    if (core) void openAtLaunch(path);
    else launch.project = path;
  });
  app.on('web-contents-created', (_event, contents) => hardenContents(contents));
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('activate', () => {
    if (core && BrowserWindow.getAllWindows().length === 0) createWindow();
  });
  app.on('before-quit', (event) => {
    if (quitting || !core) return;
    // Stop the jobs and close the project cleanly before the process ends.
    event.preventDefault();
    quitting = true;
    const closing = core;
    core = null;
    void closing.close().finally(() => app.quit());
  });
  app.whenReady().then(start).catch((err: unknown) => fatal(err));
}

async function start(): Promise<void> {
  denyPermissionsAndNetwork();
  const host: HostInfo = {
    kind: 'electron',
    appVersion: appVersion(),
    nativeDialogs: true,
    uploads: false,
    platform: process.platform,
  };
  const created = new Core({
    host,
    stateDir: process.env.SEEDBED_STATE_DIR ? nodePath.resolve(process.env.SEEDBED_STATE_DIR) : app.getPath('userData'),
    // Packaged, the sample images sit outside the asar archive so the decode workers can read them.
    sampleDir: app.isPackaged ? nodePath.join(process.resourcesPath, 'sample') : defaultSampleDir(),
    ...(process.env.SEEDBED_SQLITE_BINDING ? { nativeBinding: process.env.SEEDBED_SQLITE_BINDING } : {}),
  });
  core = created;
  created.override('host.pickPaths', ({ purpose }) => pickPaths(mainWindow, purpose));
  handleAppScheme(rendererDir());
  handleMediaScheme(created);
  registerIpc(created, () => mainWindow);
  created.events.on((message) => {
    if (message.event === 'project.changed') void onProjectChanged(message.data as ProjectInfo | null);
  });
  await refreshMenu(null);
  if (launch.project) await openAtLaunch(nodePath.resolve(launch.project));
  createWindow();
}

function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1400,
    height: 900,
    minWidth: 800,
    minHeight: 560,
    title: 'Seedbed',
    show: false,
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      devTools: isDev,
    },
  });
  mainWindow = window;
  window.once('ready-to-show', () => window.show());
  window.on('page-title-updated', (event) => event.preventDefault());
  window.on('closed', () => {
    if (mainWindow === window) mainWindow = null;
  });
  const project = core?.store();
  if (project) window.setTitle(`${nodePath.basename(project.path, '.seedbed')} — Seedbed`);
  void window.loadURL(APP_ENTRY_URL);
  return window;
}

/** Every webContents, now or later: no navigation away, no new windows, no webviews. */
function hardenContents(contents: WebContents): void {
  contents.on('will-navigate', (event, url) => {
    event.preventDefault();
    openExternally(url);
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    openExternally(url);
    return { action: 'deny' };
  });
}

/** Links to web pages open in the user's browser; any other scheme is dropped. */
function openExternally(url: string): void {
  if (isExternalWebUrl(url)) void shell.openExternal(url);
}

/** No camera, microphone, notifications or other permission; no request leaves the machine. */
function denyPermissionsAndNetwork(): void {
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.setDevicePermissionHandler(() => false);
  ses.webRequest.onBeforeRequest({ urls: ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*'] }, (_details, callback) =>
    callback({ cancel: true }),
  );
}

/** Calls the core; an error is shown in a message box and yields null. */
async function call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M> | null> {
  if (!core) return null;
  const result = await core.dispatch(method, params);
  if (result.ok) return result.value as ResultOf<M>;
  await showError(result.error.message);
  return null;
}

async function showError(message: string): Promise<void> {
  const options = { type: 'error' as const, title: 'Seedbed', message };
  if (mainWindow) await dialog.showMessageBox(mainWindow, options);
  else await dialog.showMessageBox(options);
}

/** `--project FILE` (or a file the OS asked us to open): opened, or made when it does not exist. */
async function openAtLaunch(path: string): Promise<void> {
  await call(fs.existsSync(path) ? 'project.open' : 'project.create', { path });
}

async function onProjectChanged(project: ProjectInfo | null): Promise<void> {
  if (project && !project.isSample) app.addRecentDocument(project.path);
  mainWindow?.setTitle(project ? `${project.name} — Seedbed` : 'Seedbed');
  await refreshMenu(project);
}

async function refreshMenu(project: ProjectInfo | null): Promise<void> {
  const recent = core ? await core.dispatch('project.recent', {}) : null;
  const actions: MenuActions = {
    newProject: () => void pickThen('new-project', ([path]) => call('project.create', { path: path! })),
    openProject: () => void pickThen('open-project', ([path]) => call('project.open', { path: path! })),
    openRecent: (path) => void call('project.open', { path }),
    importFolder: () => void pickThen('import-folder', (paths) => call('import.start', { paths, split: 'auto' })),
    importCsv: () => void pickThen('import-csv', ([csvPath]) => call('import.csv', { csvPath: csvPath!, split: 'auto' })),
    closeProject: () => void call('project.close', {}),
    undo: () => void call('history.undo', {}),
    redo: () => void call('history.redo', {}),
    selectAll: () => sendShortcut('a', [process.platform === 'darwin' ? 'meta' : 'control']),
    showShortcuts: () => sendShortcut('?', []),
  };
  const menu = buildMenu(recent?.ok ? (recent.value as string[]) : [], actions, { dev: isDev, hasProject: project !== null || !!core?.store() });
  Menu.setApplicationMenu(menu);
}

async function pickThen(purpose: Parameters<typeof pickPaths>[1], then: (paths: string[]) => Promise<unknown>): Promise<void> {
  const paths = await pickPaths(mainWindow, purpose);
  if (paths && paths.length > 0) await then(paths);
}

/** Hands a shortcut to the page as if typed, so its own handler (focus-aware) acts on it. */
function sendShortcut(key: string, modifiers: ('meta' | 'control')[]): void {
  const contents = mainWindow?.webContents;
  if (!contents) return;
  contents.focus();
  contents.sendInputEvent({ type: 'keyDown', keyCode: key, modifiers });
  contents.sendInputEvent({ type: 'char', keyCode: key, modifiers });
  contents.sendInputEvent({ type: 'keyUp', keyCode: key, modifiers });
}

function fatal(err: unknown): void {
  console.error(err);
  dialog.showErrorBox('Seedbed could not start', err instanceof Error ? err.message : String(err));
  app.exit(1);
}
