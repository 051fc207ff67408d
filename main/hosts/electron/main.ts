// Electron's main process: one window showing the renderer from app://seedbed/, the core
// behind one IPC channel, images through seedbed-media://, native dialogs and the menu.
// Bundled to dist/main/electron.mjs, an ES module. Electron waits for the entry module to
// finish evaluating before `ready`, so everything at the top level here (scheme
// registration, paths, the single-instance lock, `open-file`) happens before `ready`;
// nothing may be moved behind an un-awaited dynamic import.
import { app, BrowserWindow, dialog, ipcMain, Menu, protocol, session, shell, type Session, type WebContents } from 'electron';
import fs from 'node:fs';
import nodePath from 'node:path';
import type { HostInfo, JobInfo, MethodName, ParamsOf, ProjectInfo, ResultOf } from '../../../shared/contract/index.ts';
import { Core } from '../../core/core.ts';
import { appVersion, defaultSampleDir, rendererDir } from '../app-paths.ts';
import { pickPaths } from './dialogs.ts';
import { registerIpc } from './ipc.ts';
import { menuTemplate, type MenuActions } from './menu.ts';
import { handleSchemes, registerSchemes } from './protocols.ts';
import { APP_ENTRY_URL, isExternalWebUrl, isPermissionGranted, parseLaunchArgs } from './urls.ts';

const PRELOAD = nodePath.join(import.meta.dirname, 'preload.cjs');
const isDev = !app.isPackaged;
const launch = parseLaunchArgs(process.argv);
/** The longest quitting waits for the core to stop its jobs and close the project. */
const CLOSE_TIMEOUT_MS = 10_000;

app.setName('Seedbed');
if (launch.userDataDir) app.setPath('userData', nodePath.resolve(launch.userDataDir));
// Every renderer sandboxed, whatever a webContents' own preferences say (checklist #4).
app.enableSandbox();
registerSchemes(protocol);

let core: Core | null = null;
let mainWindow: BrowserWindow | null = null;
/** Set once the app is quitting (or the user agreed to stop running jobs): windows close without asking. */
let quitting = false;

if (!app.requestSingleInstanceLock()) {
  // Another Seedbed is running; it gets our arguments through 'second-instance' and shows itself.
  app.quit();
} else {
  app.on('second-instance', (_event, argv, workingDirectory) => {
    const project = parseLaunchArgs(argv).project;
    if (project) openWhenStarted(nodePath.resolve(workingDirectory, project));
    if (!mainWindow && core && !quitting) createWindow();
    if (mainWindow) {
      if (mainWindow.isMinimized()) mainWindow.restore();
      mainWindow.focus();
    }
  });
  app.on('open-file', (event, path) => {
    // macOS: a .seedbed file double-clicked in the Finder (may come before `ready`).
    event.preventDefault();
    openWhenStarted(path);
  });
  app.on('web-contents-created', (_event, contents) => hardenContents(contents));
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('activate', () => {
    if (core && !quitting && BrowserWindow.getAllWindows().length === 0) createWindow();
  });
  app.on('before-quit', (event) => {
    quitting = true;
    if (!core) return;
    // Stop the jobs and close the project cleanly before the process ends (bounded, so a
    // stuck job cannot keep the app from quitting).
    event.preventDefault();
    const closing = core;
    core = null;
    void withTimeout(closing.close(), CLOSE_TIMEOUT_MS)
      .catch((err: unknown) => console.error('Seedbed: closing the project failed:', err))
      .finally(() => app.quit());
  });
  app.whenReady().then(start).catch((err: unknown) => fatal(err));
}

async function start(): Promise<void> {
  guardSession(session.defaultSession);
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
    // Development only: scripts/start.mjs builds better-sqlite3 for Electron's ABI and names it
    // here. An installed app uses the copy electron-builder rebuilt, and never loads native
    // code that an environment variable names.
    ...(isDev && process.env.SEEDBED_SQLITE_BINDING ? { nativeBinding: process.env.SEEDBED_SQLITE_BINDING } : {}),
  });
  core = created;
  created.override('host.pickPaths', ({ purpose }) => pickPaths(mainWindow, purpose));
  handleSchemes(protocol, rendererDir(), created);
  registerIpc(ipcMain, created, () => mainWindow);
  created.events.on((message) => {
    if (message.event === 'project.changed') void onProjectChanged(message.data);
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
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      devTools: isDev,
    },
  });
  mainWindow = window;
  window.once('ready-to-show', () => window.show());
  window.on('page-title-updated', (event) => event.preventDefault());
  window.on('close', (event) => confirmCloseWhileWorking(window, event));
  window.on('closed', () => {
    if (mainWindow === window) mainWindow = null;
  });
  const project = core?.store();
  if (project) window.setTitle(`${nodePath.basename(project.path, '.seedbed')} — Seedbed`);
  window.loadURL(APP_ENTRY_URL).catch((err: unknown) => console.error(`Seedbed: could not load ${APP_ENTRY_URL}:`, err));
  return window;
}

let askingToClose = false;

/**
 * Closing the window quits Seedbed on Windows and Linux, which stops a running import. Ask
 * first; quitting from the menu or the OS does not ask (it must never hang on a dialog).
 * On macOS the app keeps running without a window, and so does the job.
 */
function confirmCloseWhileWorking(window: BrowserWindow, event: Electron.Event): void {
  if (quitting || process.platform === 'darwin') return;
  const running = runningJobs();
  if (running.length === 0) return;
  event.preventDefault();
  if (askingToClose) return;
  askingToClose = true;
  void dialog
    .showMessageBox(window, {
      type: 'warning',
      title: 'Seedbed',
      buttons: ['Keep Working', 'Stop and Close'],
      defaultId: 0,
      cancelId: 0,
      noLink: true,
      message: running.length === 1 ? `“${running[0]!.title}” is still running.` : `${running.length} tasks are still running.`,
      detail: 'Closing Seedbed stops it. Everything it finished stays in the project; importing the same folder again adds the rest.',
    })
    .then(({ response }) => {
      if (response !== 1 || window.isDestroyed()) return;
      quitting = true;
      window.close();
    })
    .finally(() => {
      askingToClose = false;
    });
}

function runningJobs(): JobInfo[] {
  try {
    return core?.jobs.list().filter((job) => job.status === 'running') ?? [];
  } catch {
    return [];
  }
}

/** Every webContents, now or later: no navigation away, no new windows, no webviews. */
function hardenContents(contents: WebContents): void {
  // Checklist #13. Our page is loaded with loadURL, which this does not see; anything the
  // page itself starts (a link, a location change) in any frame is stopped, and a link to a
  // web page opens in the user's browser instead.
  contents.on('will-frame-navigate', (event) => {
    event.preventDefault();
    if (event.isMainFrame) openExternally(event.url);
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  // Checklist #14.
  contents.setWindowOpenHandler(({ url }) => {
    openExternally(url);
    return { action: 'deny' };
  });
}

/** Links to web pages open in the user's browser; any other scheme is dropped (checklist #15). */
function openExternally(url: string): void {
  if (isExternalWebUrl(url)) void shell.openExternal(url).catch(() => {});
}

/** No camera, microphone, devices or notifications (checklist #5); no request leaves the machine. */
function guardSession(ses: Session): void {
  ses.setPermissionRequestHandler((_contents, permission, callback, details) =>
    callback(isPermissionGranted(permission, details.requestingUrl)),
  );
  ses.setPermissionCheckHandler((_contents, permission, requestingOrigin) => isPermissionGranted(permission, requestingOrigin));
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

/** A project the OS handed over: opened now, or as soon as the core exists. */
function openWhenStarted(path: string): void {
  if (core) void openAtLaunch(path);
  else if (!quitting) launch.project = path;
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
    undo: () => {
      if (core?.store()) void call('history.undo', {});
    },
    redo: () => {
      if (core?.store()) void call('history.redo', {});
    },
    selectAll: () => sendShortcut('a', [process.platform === 'darwin' ? 'meta' : 'control']),
    editText: (command) => {
      const contents = mainWindow?.webContents;
      if (!contents || contents.isDestroyed()) return;
      if (command === 'undo') contents.undo();
      else if (command === 'redo') contents.redo();
      else contents.selectAll();
    },
    showShortcuts: () => sendShortcut('?', []),
  };
  const template = menuTemplate(recent?.ok ? (recent.value as string[]) : [], actions, {
    dev: isDev,
    hasProject: project !== null || !!core?.store(),
    platform: process.platform,
  });
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

async function pickThen(purpose: Parameters<typeof pickPaths>[1], then: (paths: string[]) => Promise<unknown>): Promise<void> {
  const paths = await pickPaths(mainWindow, purpose);
  if (paths && paths.length > 0) await then(paths);
}

/**
 * Hands a shortcut to the page as if pressed, so its own (focus-aware) keydown handler acts
 * on it. No `char` event: the page listens to keydown only, and a char would type the key
 * into a focused text field.
 */
function sendShortcut(key: string, modifiers: ('meta' | 'control')[]): void {
  const contents = mainWindow?.webContents;
  if (!contents || contents.isDestroyed()) return;
  contents.focus();
  contents.sendInputEvent({ type: 'keyDown', keyCode: key, modifiers });
  contents.sendInputEvent({ type: 'keyUp', keyCode: key, modifiers });
}

function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      console.error(`Seedbed: the project did not close within ${ms / 1000} s; quitting anyway.`);
      resolve();
    }, ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function fatal(err: unknown): void {
  console.error(err);
  dialog.showErrorBox('Seedbed could not start', err instanceof Error ? err.message : String(err));
  app.exit(1);
}
