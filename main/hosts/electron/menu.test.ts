import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KeyboardEvent, MenuItemConstructorOptions } from 'electron';
import { menuTemplate, type MenuActions, type MenuOptions } from './menu.ts';

/** Actions that record their calls by name. */
function recordingActions(): { actions: MenuActions; calls: string[] } {
  const calls: string[] = [];
  const actions: MenuActions = {
    newProject: () => void calls.push('newProject'),
    openProject: () => void calls.push('openProject'),
    openRecent: (path) => void calls.push(`openRecent ${path}`),
    importFolder: () => void calls.push('importFolder'),
    importCsv: () => void calls.push('importCsv'),
    closeProject: () => void calls.push('closeProject'),
    undo: () => void calls.push('undo'),
    redo: () => void calls.push('redo'),
    selectAll: () => void calls.push('selectAll'),
    editText: (command) => void calls.push(`editText ${command}`),
    showShortcuts: () => void calls.push('showShortcuts'),
  };
  return { actions, calls };
}

function allItems(template: MenuItemConstructorOptions[]): MenuItemConstructorOptions[] {
  return template.flatMap((item) => [item, ...(Array.isArray(item.submenu) ? allItems(item.submenu) : [])]);
}

function item(template: MenuItemConstructorOptions[], label: string): MenuItemConstructorOptions {
  const found = allItems(template).find((i) => i.label === label);
  assert.ok(found, `menu item "${label}"`);
  return found;
}

function click(entry: MenuItemConstructorOptions, triggeredByAccelerator: boolean): void {
  assert.ok(entry.click, `"${entry.label}" can be clicked`);
  (entry.click as (item: unknown, window: unknown, event: KeyboardEvent) => void)({}, undefined, { triggeredByAccelerator });
}

const PLATFORMS: NodeJS.Platform[] = ['linux', 'win32', 'darwin'];

test('undo, redo and select all: the key edits a focused text field, the mouse acts on the project', () => {
  for (const platform of PLATFORMS) {
    const { actions, calls } = recordingActions();
    const template = menuTemplate([], actions, { dev: false, hasProject: true, platform });
    const expected: [string, string, string, string][] = [
      ['Undo', 'CmdOrCtrl+Z', 'editText undo', 'undo'],
      ['Redo', 'CmdOrCtrl+Shift+Z', 'editText redo', 'redo'],
      ['Select All', 'CmdOrCtrl+A', 'editText selectAll', 'selectAll'],
    ];
    for (const [label, accelerator, byKey, byMouse] of expected) {
      const entry = item(template, label);
      assert.equal(entry.accelerator, accelerator, `${platform} ${label}`);
      // Registered, so that on macOS the key still reaches a text field that the page leaves alone.
      assert.notEqual(entry.registerAccelerator, false, `${platform} ${label} is registered`);
      calls.length = 0;
      click(entry, true);
      click(entry, false);
      assert.deepEqual(calls, [byKey, byMouse], `${platform} ${label}`);
    }
  }
});

test('a bare "?" is never a registered shortcut (it must stay typeable)', () => {
  for (const platform of PLATFORMS) {
    const { actions, calls } = recordingActions();
    const template = menuTemplate([], actions, { dev: false, hasProject: true, platform });
    for (const entry of allItems(template)) {
      if (entry.accelerator && !/^(CmdOrCtrl|Cmd|Ctrl|Alt|Command|Control)\+/.test(entry.accelerator)) {
        assert.equal(platform === 'darwin', false, `${platform}: macOS registers every accelerator ("${entry.label}": ${entry.accelerator})`);
        assert.equal(entry.registerAccelerator, false, `${platform}: "${entry.label}" (${entry.accelerator}) only shows its key`);
      }
    }
    const help = allItems(template).find((i) => typeof i.label === 'string' && i.label.startsWith('Keyboard Shortcuts'));
    assert.ok(help, `${platform}: the shortcut help is in the menu`);
    click(help, false);
    assert.deepEqual(calls, ['showShortcuts']);
  }
});

test('import and close need a project; recent projects open by path', () => {
  const { actions, calls } = recordingActions();
  const options: MenuOptions = { dev: false, hasProject: false, platform: 'linux' };
  const without = menuTemplate(['/data/leaves.seedbed', '/data/bees.seedbed'], actions, options);
  for (const label of ['Import Folder…', 'Import CSV…', 'Close Project']) {
    assert.equal(item(without, label).enabled, false, `${label} without a project`);
  }
  const recent = item(without, 'Open Recent').submenu as MenuItemConstructorOptions[];
  assert.deepEqual(
    recent.map((r) => r.label),
    ['leaves.seedbed  —  /data', 'bees.seedbed  —  /data'],
  );
  click(recent[1]!, false);
  assert.deepEqual(calls, ['openRecent /data/bees.seedbed']);

  const withProject = menuTemplate([], actions, { ...options, hasProject: true });
  for (const label of ['Import Folder…', 'Import CSV…', 'Close Project']) {
    assert.notEqual(item(withProject, label).enabled, false, `${label} with a project`);
  }
  assert.equal((item(withProject, 'Open Recent').submenu as MenuItemConstructorOptions[])[0]!.enabled, false);
});

test('developer tools only in development; macOS gets its app and window menus', () => {
  const { actions } = recordingActions();
  const roles = (template: MenuItemConstructorOptions[]) => allItems(template).map((i) => i.role).filter(Boolean);
  assert.ok(!roles(menuTemplate([], actions, { dev: false, hasProject: true, platform: 'linux' })).includes('toggleDevTools'), 'no devtools installed');
  assert.ok(roles(menuTemplate([], actions, { dev: true, hasProject: true, platform: 'linux' })).includes('toggleDevTools'), 'devtools in dev');
  const mac = roles(menuTemplate([], actions, { dev: false, hasProject: true, platform: 'darwin' }));
  assert.ok(mac.includes('appMenu') && mac.includes('windowMenu') && !mac.includes('quit'), `macOS roles: ${mac.join(', ')}`);
  const linux = roles(menuTemplate([], actions, { dev: false, hasProject: true, platform: 'linux' }));
  assert.ok(linux.includes('quit') && !linux.includes('appMenu'), `Linux roles: ${linux.join(', ')}`);
});
