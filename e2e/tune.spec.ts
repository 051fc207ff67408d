import fs from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { importFolder, shot } from './actions.ts';
import { expect, test } from './fixtures.ts';
import { MODELS_DIR, SHARED } from './hosts.ts';

const TRASHNET = path.join(SHARED, 'data', 'trashnet');
const BACKBONE = 'mobilenet_v1_0.25_224';
const CLASSES = ['cardboard', 'glass', 'metal'];
const PER_CLASS = 16;
const TRIALS = 6;

// The Electron fixture passes this process's environment on; the web host gets it from startServe.
process.env.SEEDBED_MODELS_DIR ??= MODELS_DIR;

/** The first TrashNet photos of each class (numbers in names compared as numbers), one folder per class. */
function makeSubset(root: string): void {
  for (const cls of CLASSES) {
    fs.mkdirSync(path.join(root, cls), { recursive: true });
    const names = fs.readdirSync(path.join(TRASHNET, cls)).filter((f) => f.endsWith('.jpg'));
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    for (const name of names.slice(0, PER_CLASS)) fs.copyFileSync(path.join(TRASHNET, cls, name), path.join(root, cls, name));
  }
}

/** Records in the page every count of trial rows the table showed, as they change. */
async function recordTrialRows(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: number[] = [];
    (window as unknown as { trialRows: number[] }).trialRows = seen;
    const note = () => {
      const n = document.querySelectorAll('[data-testid="tune-trials"] tbody tr[data-trial]').length;
      if (seen.at(-1) !== n) seen.push(n);
    };
    new MutationObserver(note).observe(document.body, { childList: true, subtree: true });
    note();
  });
}

test('auto-tune from the Train view: the trials fill in live, the plot shows them, the best becomes a run, the search outlives a reload', async ({ studio }, testInfo) => {
  test.skip(!fs.existsSync(TRASHNET), `no dataset at ${TRASHNET}`);
  test.skip(!fs.existsSync(path.join(MODELS_DIR, BACKBONE, 'model.json')), `no ${BACKBONE} in ${MODELS_DIR}`);
  const { page } = studio;
  const subset = path.join(studio.workDir, 'trash-subset');
  makeSubset(subset);

  await importFolder(page, subset, 60_000);
  await page.getByRole('button', { name: 'Done', exact: true }).click();
  await page.getByRole('tab', { name: 'Train' }).click();
  await expect(page.getByTestId('train-empty-runs')).toBeVisible();
  await page.getByLabel('Backbone').selectOption(BACKBONE);

  // The dialog explains itself and starts from a budget of 50 trials.
  await page.getByTestId('auto-tune').click();
  const dialog = page.getByTestId('tune-dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('validation images only');
  const trialsField = dialog.getByLabel('Number of trials');
  await expect(trialsField).toHaveValue('50');
  await trialsField.fill('0');
  await expect(dialog.getByRole('button', { name: 'Start search' })).toBeDisabled();
  await trialsField.fill(String(TRIALS));
  await shot(page, testInfo, 'tune-01-dialog');
  await recordTrialRows(page);
  await dialog.getByRole('button', { name: 'Start search' }).click();
  await expect(dialog).toBeHidden();

  // The search is shown and listed while it runs; its table fills trial by trial.
  const panel = page.getByTestId('tune-panel');
  await expect(panel.getByRole('heading', { name: 'Search 1' })).toBeVisible();
  await expect(page.getByTestId('search-1')).toBeVisible();
  const rows = page.getByTestId('tune-trials').locator('tbody tr[data-trial]');
  await expect(rows.first()).toBeAttached({ timeout: 60_000 });
  await expect(page.getByTestId('tune-status')).toHaveText('done', { timeout: 60_000 });
  await expect(rows).toHaveCount(TRIALS);
  await expect(page.getByTestId('tune-progress')).toHaveText(new RegExp(`^${TRIALS} of ${TRIALS} trials · `));
  const growth = await page.evaluate(() => (window as unknown as { trialRows: number[] }).trialRows);
  expect(growth.filter((n) => n > 0 && n < TRIALS).length, `row counts seen: ${growth.join(', ')}`).toBeGreaterThanOrEqual(1);

  // Trial 0 is the user's settings; the best row is marked, first, and its score is the table's highest among the longest-trained.
  await expect(page.getByTestId('trial-0')).toContainText('yours');
  const bestRow = page.getByTestId('tune-trials').locator('tbody tr.best-row');
  await expect(bestRow).toHaveCount(1);
  await expect(rows.first()).toHaveClass(/best-row/);
  const bestTrial = Number(await bestRow.getAttribute('data-trial'));
  const bestText = await page.getByTestId('tune-best').textContent();
  expect(bestText).toMatch(new RegExp(`(trial|Trial) ${bestTrial}\\b`));
  const bestScore = Number(/macro-F1 (\d\.\d{3})/.exec(bestText ?? '')?.[1]);
  expect(bestScore).toBeGreaterThan(0);
  expect(bestScore).toBeLessThanOrEqual(1);
  await expect(bestRow.locator('td.score')).toHaveText(bestScore.toFixed(3));

  // The plot has one point per scored trial, the best ringed; another setting redraws it.
  const scatter = page.getByTestId('tune-scatter');
  const scored = await rows.locator('td.score').evaluateAll((cells) => cells.filter((c) => c.textContent?.trim() !== '—').length);
  expect(scored).toBeGreaterThan(0);
  await expect(scatter.locator('g.point')).toHaveCount(scored);
  await expect(scatter.locator(`g.point[data-trial="${bestTrial}"] circle.ring`)).toHaveCount(1);
  await scatter.getByLabel('Setting on the horizontal axis').selectOption({ label: 'Dropout' });
  await expect(scatter.locator('text.axis-label').first()).toHaveText('Dropout');
  await expect(scatter.locator('g.point')).toHaveCount(scored);
  await shot(page, testInfo, 'tune-02-done');

  // One click trains the best settings as an ordinary run, which is then shown and listed.
  await page.getByTestId('tune-promote').click();
  const runPanel = page.getByTestId('run-panel');
  const runName = `Search 1 · trial ${bestTrial}`;
  await expect(runPanel.getByRole('heading', { name: runName })).toBeVisible();
  await expect(panel).toBeHidden();
  await expect(page.getByTestId('run-1').getByRole('button')).toHaveAttribute('aria-current', 'true');
  await expect(page.getByTestId('run-status')).toHaveText(/training|done/);
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 90_000 });
  await shot(page, testInfo, 'tune-03-promoted');

  // The search is stored with the project: after a reload it is listed, with its trials and the run made from it.
  await page.reload();
  await page.getByRole('tab', { name: 'Train' }).click();
  await page.getByTestId('search-1').getByRole('button').click();
  await expect(panel.getByRole('heading', { name: 'Search 1' })).toBeVisible();
  await expect(rows).toHaveCount(TRIALS);
  await expect(page.getByTestId('tune-promoted-run')).toHaveText(runName);
  await page.getByTestId('tune-promoted-run').click();
  await expect(runPanel.getByRole('heading', { name: runName })).toBeVisible();
});
