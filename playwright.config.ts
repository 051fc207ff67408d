import { defineConfig } from '@playwright/test';
import type { HostOptions } from './e2e/fixtures.ts';

// One set of specs, two hosts: `web` drives `seedbed serve` in Debian's Chromium; `electron`
// drives the desktop app through `_electron.launch` and skips itself where no binary exists.
export default defineConfig<HostOptions>({
  testDir: 'e2e',
  testMatch: '*.spec.ts',
  timeout: 180_000,
  expect: { timeout: 20_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  outputDir: 'test-results',
  use: {
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    viewport: { width: 1400, height: 900 },
  },
  projects: [
    // The fixture (e2e/fixtures.ts) launches Debian's Chromium itself for `web`, and Electron for `electron`.
    { name: 'web', use: { host: 'web' } },
    { name: 'electron', use: { host: 'electron' } },
  ],
});
