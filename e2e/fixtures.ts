import { test as base, _electron, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CHROMIUM_ARGS, chromiumPath, electronBinary, freshDir, ROOT, startServe } from './hosts.ts';

export interface HostOptions {
  host: 'web' | 'electron';
}

export interface Studio {
  page: Page;
  /** The project file this test works in (fresh per test). */
  projectPath: string;
  /** A scratch folder for the test's own files; removed after the test. */
  workDir: string;
}

/** Each test gets a fresh project and app state, opened in the project's host, and cleaned up after. */
export const test = base.extend<HostOptions & { studio: Studio }>({
  host: ['web', { option: true }],
  studio: async ({ host, playwright }, use, testInfo) => {
    const dir = freshDir(testInfo.project.name);
    const projectPath = path.join(dir, 'e2e.seedbed');
    const stateDir = path.join(dir, 'state');
    const workDir = path.join(dir, 'work');
    fs.mkdirSync(workDir);
    try {
      if (host === 'electron') {
        const bin = electronBinary();
        if ('reason' in bin) {
          testInfo.skip(true, bin.reason);
          return;
        }
        // better-sqlite3 must be built for Electron's ABI; start.mjs builds (once) and prints it.
        const binding = execFileSync(process.execPath, [path.join(ROOT, 'scripts/start.mjs'), '--print-sqlite-binding'], {
          cwd: ROOT,
          encoding: 'utf8',
        }).trim();
        const app = await _electron.launch({
          executablePath: bin.path,
          args: [
            // Chromium will not start sandboxed as root (CI containers): the sandbox is off for this test run only.
            ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
            path.join(ROOT, 'dist/main/electron.mjs'),
            '--project',
            projectPath,
            `--user-data-dir=${stateDir}`,
          ],
          env: { ...process.env, SEEDBED_STATE_DIR: stateDir, SEEDBED_SQLITE_BINDING: binding } as Record<string, string>,
        });
        try {
          await use({ page: await app.firstWindow(), projectPath, workDir });
        } finally {
          await app.close();
        }
        return;
      }
      const executablePath = chromiumPath();
      if (!executablePath) throw new Error('Chromium is not installed: apt-get install -y chromium (or set SEEDBED_CHROMIUM).');
      const server = await startServe(projectPath, stateDir);
      try {
        const browser = await playwright.chromium.launch({ executablePath, args: CHROMIUM_ARGS });
        try {
          const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
          const page = await context.newPage();
          await page.goto(server.url);
          await use({ page, projectPath, workDir });
        } finally {
          await browser.close();
        }
      } finally {
        await server.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
});

export { expect } from '@playwright/test';
