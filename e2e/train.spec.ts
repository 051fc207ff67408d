import fs from 'node:fs';
import path from 'node:path';
import type { Locator, Page } from '@playwright/test';
import { importFolder, shot } from './actions.ts';
import { expect, test } from './fixtures.ts';
import { MODELS_DIR, SHARED } from './hosts.ts';

const TRASHNET = path.join(SHARED, 'data', 'trashnet');
const BACKBONE = 'mobilenet_v1_0.25_224';
const CLASSES = ['cardboard', 'glass', 'metal'];
const PER_CLASS = 12;

// The Electron fixture passes this process's environment on; the web host gets it from startServe.
process.env.SEEDBED_MODELS_DIR ??= MODELS_DIR;

/** Saves a screenshot to /tmp/shots (to look at) and attaches it to the report. */

/** TrashNet's files of a class in name order (glass1, glass2, … glass10: numbers compared as numbers). */
function firstFiles(className: string, from: number, count: number): string[] {
  const names = fs.readdirSync(path.join(TRASHNET, className)).filter((f) => f.endsWith('.jpg'));
  names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return names.slice(from, from + count);
}

/**
 * A fixed small TrashNet subset: 12 images in each of three class folders, and three more
 * photos (the next glass, metal and cardboard ones) loose at the top level, so they import unlabeled.
 */
function makeSubset(root: string): string[] {
  for (const cls of CLASSES) {
    fs.mkdirSync(path.join(root, cls), { recursive: true });
    for (const name of firstFiles(cls, 0, PER_CLASS)) fs.copyFileSync(path.join(TRASHNET, cls, name), path.join(root, cls, name));
  }
  const loose: string[] = [];
  for (const cls of CLASSES) {
    const name = firstFiles(cls, PER_CLASS, 1)[0]!;
    const target = `unsorted-${name}`;
    fs.copyFileSync(path.join(TRASHNET, cls, name), path.join(root, target));
    loose.push(target);
  }
  return loose;
}


/** Every row count a chart's value table showed, recorded in the page as rows arrive. */
async function recordTableGrowth(page: Page, testid: string): Promise<void> {
  await page.evaluate((id) => {
    const seen: number[] = [];
    (window as unknown as Record<string, number[]>)[`rows:${id}`] = seen;
    const note = () => {
      const n = document.querySelectorAll(`[data-testid="${id}"] tbody tr`).length;
      if (seen.at(-1) !== n) seen.push(n);
    };
    new MutationObserver(note).observe(document.body, { childList: true, subtree: true });
    note();
  }, testid);
}

function tableGrowth(page: Page, testid: string): Promise<number[]> {
  return page.evaluate((id) => (window as unknown as Record<string, number[]>)[`rows:${id}`] ?? [], testid);
}

const chartRows = (page: Page, testid: string): Locator => page.getByTestId(testid).locator('tbody tr');
const cells = (page: Page) => page.getByRole('gridcell');

test('train from the UI: curves fill epoch by epoch, metrics, a second run to compare, predictions in the gallery, accept one with A', async ({ studio }, testInfo) => {
  test.skip(!fs.existsSync(TRASHNET), `no dataset at ${TRASHNET}`);
  test.skip(!fs.existsSync(path.join(MODELS_DIR, BACKBONE, 'model.json')), `no ${BACKBONE} in ${MODELS_DIR}`);
  const { page } = studio;
  const subset = path.join(studio.workDir, 'trash-subset');
  const loose = makeSubset(subset);

  await expect(page.getByTestId('ml-runtime')).toHaveText('TensorFlow.js: not started yet');
  await importFolder(page, subset, 60_000);
  await page.getByRole('button', { name: 'Done', exact: true }).click();
  await expect(page.getByRole('grid')).toHaveAccessibleName(`Images, ${CLASSES.length * PER_CLASS + loose.length} images`);
  await expect(page.getByTestId('filter-unlabeled')).toHaveAccessibleName(`Unlabeled ${loose.length}`);

  // The views are tabs: Ctrl+2 and Ctrl+1 switch, and so do clicks.
  const trainTab = page.getByRole('tab', { name: 'Train' });
  const datasetTab = page.getByRole('tab', { name: 'Dataset' });
  await page.keyboard.press('Control+2');
  await expect(trainTab).toHaveAttribute('aria-selected', 'true');
  await page.keyboard.press('Control+1');
  await expect(datasetTab).toHaveAttribute('aria-selected', 'true');
  await trainTab.click();
  await expect(page.getByTestId('train-empty-runs')).toBeVisible();
  await shot(page, testInfo, 'train-01-empty');

  // Run 1: the smallest backbone, 15 epochs.
  await page.getByLabel('Backbone').selectOption(BACKBONE);
  await page.getByLabel('Epochs', { exact: true }).fill('15');
  await recordTableGrowth(page, 'chart-loss');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  const panel = page.getByTestId('run-panel');
  await expect(panel.getByRole('heading', { name: 'Run 1' })).toBeVisible();
  await expect(chartRows(page, 'chart-loss').first()).toBeAttached({ timeout: 60_000 });
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 90_000 });
  const epochs = await chartRows(page, 'chart-loss').count();
  expect(epochs).toBeGreaterThanOrEqual(3);
  expect(epochs).toBeLessThanOrEqual(15);
  // The table grew while the run trained, one epoch at a time, not all at once at the end.
  const growth = await tableGrowth(page, 'chart-loss');
  expect(growth.filter((n) => n > 0 && n < epochs).length, `row counts seen: ${growth.join(', ')}`).toBeGreaterThanOrEqual(2);
  await expect(chartRows(page, 'chart-accuracy')).toHaveCount(epochs);

  const accuracy = page.getByTestId('test-accuracy');
  await expect(accuracy).toContainText(/\d+\.\d%/);
  const testAccuracy = Number(/([\d.]+)%/.exec((await accuracy.textContent()) ?? '')![1]) / 100;
  // Three classes: chance is a third.
  expect(testAccuracy).toBeGreaterThan(0.34);
  await expect(page.getByTestId('confusion-matrix').locator('tbody tr')).toHaveCount(CLASSES.length);
  await expect(page.getByTestId('diagnosis')).toBeVisible();
  await expect(page.getByTestId('run-runtime')).toHaveText(/· \S.* · \d+ workers?/);
  await expect(page.getByTestId('ml-runtime')).toHaveText(/^TensorFlow\.js: \S.* · \d+ workers?$/);
  await shot(page, testInfo, 'train-03-finished');

  // Run 2: no hidden layer, small batches, no early stopping: slow enough to look at mid-way, then compare.
  const RUN2_EPOCHS = 80;
  await page.getByText('Advanced', { exact: true }).click();
  await page.getByLabel('Hidden units').fill('0');
  await page.getByLabel('Batch size').fill('2');
  await page.getByLabel('Early-stopping patience').fill('0');
  await page.getByLabel('Epochs', { exact: true }).fill(String(RUN2_EPOCHS));
  // A run of 24 cached images can finish in a few seconds: record what the page showed while it
  // ran (Train disabled, a Cancel button) as it happens, instead of racing it with a look.
  await page.evaluate(() => {
    const seen = { trainDisabled: false, cancel: false };
    (window as unknown as { seenWhileTraining: typeof seen }).seenWhileTraining = seen;
    const look = () => {
      for (const b of document.querySelectorAll('button')) {
        const text = b.textContent?.trim();
        if (text === 'Train' && b.disabled) seen.trainDisabled = true;
        if (text === 'Cancel') seen.cancel = true;
      }
    };
    new MutationObserver(look).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['disabled'] });
  });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(panel.getByRole('heading', { name: 'Run 2' })).toBeVisible();
  await expect(chartRows(page, 'chart-loss').nth(2)).toBeAttached({ timeout: 60_000 });
  await shot(page, testInfo, 'train-02-during');
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 120_000 });
  const seen = await page.evaluate(() => (window as unknown as { seenWhileTraining: { trainDisabled: boolean; cancel: boolean } }).seenWhileTraining);
  expect(seen, 'while the run trained, Train was disabled and Cancel offered').toEqual({ trainDisabled: true, cancel: true });
  await expect(chartRows(page, 'chart-loss')).toHaveCount(RUN2_EPOCHS);

  await page.getByRole('checkbox', { name: 'Compare Run 1' }).check();
  await page.getByRole('checkbox', { name: 'Compare Run 2' }).check();
  const compare = page.getByTestId('run-compare');
  await expect(compare).toBeVisible();
  await expect(compare.getByRole('row', { name: /Hidden units/ })).toHaveClass(/differs/);
  await expect(compare.getByRole('row', { name: /^Seed/ })).not.toHaveClass(/differs/);
  await expect(page.getByTestId('chart-compare').locator('tbody tr')).toHaveCount(RUN2_EPOCHS);
  await shot(page, testInfo, 'train-04-compare');
  await compare.getByRole('button', { name: 'Close comparison' }).click();

  // Predict every image with run 1, then see the predictions in the gallery.
  await page.getByTestId('run-1').getByRole('button').click();
  await expect(panel.getByRole('heading', { name: 'Run 1' })).toBeVisible();
  await page.getByTestId('predict-menu').click();
  await page.getByRole('menuitem', { name: 'All images' }).click();
  const total = CLASSES.length * PER_CLASS + loose.length;
  await page.getByRole('button', { name: 'Show the predictions in the gallery' }).click();
  await expect(datasetTab).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('prediction-chip')).toHaveCount(total);

  // Least confident first: the confidences the tiles show never go down.
  await page.getByLabel('Sort', { exact: true }).selectOption('confidence-asc');
  await expect(page.getByTestId('prediction-chip')).toHaveCount(total);
  const labels = await cells(page).evaluateAll((tiles) => tiles.map((t) => t.getAttribute('aria-label') ?? ''));
  const confidences = labels.map((l) => Number(/predicted .+? (\d+)%/.exec(l)?.[1]));
  expect(confidences.every((c, i) => i === 0 || c >= confidences[i - 1]!), confidences.join(', ')).toBe(true);
  await shot(page, testInfo, 'gallery-01-predictions');

  // "Disagrees with its label" keeps exactly the tiles that said so.
  const disagreeing = labels.filter((l) => l.includes(', but labelled ')).length;
  await page.getByTestId('prediction-filter').click();
  await page.getByLabel('Disagrees with its label').check();
  await shot(page, testInfo, 'gallery-03-prediction-filter');
  await page.keyboard.press('Escape');
  if (disagreeing > 0) await expect(page.getByRole('grid')).toHaveAccessibleName(`Images, ${disagreeing} image${disagreeing === 1 ? '' : 's'}`);
  else await expect(page.getByTestId('empty-filter')).toBeVisible();
  await page.getByRole('button', { name: 'Remove filter disagrees with label' }).click();
  await expect(page.getByRole('grid')).toHaveAccessibleName(`Images, ${total} images`);

  // Accept the prediction of one unlabeled photo with A: it gets the predicted class (source: model).
  await page.getByTestId('filter-unlabeled').click();
  await expect(page.getByRole('grid')).toHaveAccessibleName(`Images, ${loose.length} images`);
  const first = cells(page).nth(0);
  const tileName = (await first.getAttribute('aria-label')) ?? '';
  const [, fileName, predicted] = /^(.+?), predicted (\w+) \d+%/.exec(tileName) ?? [];
  expect(fileName, tileName).toBeTruthy();
  expect(CLASSES).toContain(predicted);
  const before = await page.getByTestId(`class-${predicted}`).textContent();
  await first.click();
  await page.keyboard.press('a');
  await expect(page.getByTestId('filter-unlabeled')).toHaveAccessibleName(`Unlabeled ${loose.length - 1}`);
  await expect(page.getByTestId(`class-${predicted}`)).not.toHaveText(before ?? '');

  // Its preview shows the label, the top classes and where the label came from.
  await page.getByTestId('filter-all').click();
  await page.getByLabel('Search file names').fill(fileName!);
  await expect(page.getByRole('grid')).toHaveAccessibleName('Images, 1 image');
  await cells(page).nth(0).dblclick();
  const preview = page.getByTestId('preview');
  await expect(preview.getByRole('button', { name: predicted, exact: false }).and(preview.locator('[aria-pressed="true"]'))).toBeVisible();
  await expect(preview.getByTestId('preview-prediction').getByRole('meter')).toHaveCount(CLASSES.length);
  await expect(preview.getByRole('region', { name: 'Label history' }).getByRole('listitem').first()).toContainText(new RegExp(`^${predicted}\\s*model \\(prediction accepted\\)`));
  await shot(page, testInfo, 'gallery-02-preview');

  // A new label changes the dataset the runs learned from: the runs say they are stale.
  await page.keyboard.press('Escape');
  await expect(preview).toBeHidden();
  await page.keyboard.press('Control+2');
  await expect(page.getByTestId('run-1')).toContainText('stale');
  await expect(page.getByTestId('run-panel').getByText('stale', { exact: true })).toBeVisible();
});
