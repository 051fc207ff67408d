import fs from 'node:fs';
import path from 'node:path';
import { importFolder, shot } from './actions.ts';
import { expect, test } from './fixtures.ts';
import { MODELS_DIR, SHARED } from './hosts.ts';

const TRASHNET = path.join(SHARED, 'data', 'trashnet');
const BACKBONE = 'mobilenet_v1_0.25_224';
const CLASSES = ['cardboard', 'glass', 'metal'];
const PER_CLASS = 14;

process.env.SEEDBED_MODELS_DIR ??= MODELS_DIR;

function makeSubset(root: string): void {
  for (const cls of CLASSES) {
    fs.mkdirSync(path.join(root, cls), { recursive: true });
    const names = fs.readdirSync(path.join(TRASHNET, cls)).filter((f) => f.endsWith('.jpg'));
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    for (const name of names.slice(0, PER_CLASS)) fs.copyFileSync(path.join(TRASHNET, cls, name), path.join(root, cls, name));
  }
}

/** "72.3% (67.8–76.4)" → its three numbers. */
function parseInterval(text: string): { value: number; low: number; high: number } {
  const m = /([\d.]+)%\s*\(([\d.]+)–([\d.]+)\)/.exec(text);
  if (!m) throw new Error(`no interval in "${text}"`);
  return { value: Number(m[1]), low: Number(m[2]), high: Number(m[3]) };
}

test('evaluate: a run\'s metrics with intervals, a confusion cell\'s images, an image\'s explanation, a saved threshold', async ({ studio }, testInfo) => {
  test.skip(!fs.existsSync(TRASHNET), `no dataset at ${TRASHNET}`);
  test.skip(!fs.existsSync(path.join(MODELS_DIR, BACKBONE, 'model.json')), `no ${BACKBONE} in ${MODELS_DIR}`);
  const { page } = studio;
  const subset = path.join(studio.workDir, 'subset');
  makeSubset(subset);
  await importFolder(page, subset, 60_000);
  await page.getByRole('button', { name: 'Done', exact: true }).click();

  // Ctrl+5 opens Evaluate; with no run yet it says what to do.
  await page.keyboard.press('Control+5');
  await expect(page.getByRole('tab', { name: 'Evaluate' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('eval-empty-runs')).toBeVisible();

  await page.keyboard.press('Control+2');
  await page.getByLabel('Backbone').selectOption(BACKBONE);
  await page.getByLabel('Epochs', { exact: true }).fill('12');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 60_000 });

  // The run panel's Evaluate button opens the view on that run.
  await page.getByTestId('evaluate-run').click();
  await expect(page.getByRole('tab', { name: 'Evaluate' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('eval-run')).toHaveValue('1');
  const headline = page.getByTestId('eval-headline');
  await expect(headline).toBeVisible({ timeout: 30_000 });
  for (const key of ['accuracy', 'balancedAccuracy', 'macroF1', 'weightedF1']) {
    const m = parseInterval(await page.getByTestId(`headline-${key}`).innerText());
    expect(m.low, `${key}: low ≤ value`).toBeLessThanOrEqual(m.value);
    expect(m.high, `${key}: value ≤ high`).toBeGreaterThanOrEqual(m.value);
    expect(m.high, `${key}: a percentage`).toBeLessThanOrEqual(100);
  }
  // A handful of test images: the intervals are wide, and the view says so.
  await expect(page.getByTestId('small-set')).toContainText('these numbers are uncertain');
  await expect(page.getByTestId('per-class').locator('tbody tr')).toHaveCount(CLASSES.length);
  await shot(page, testInfo, 'evaluate-01-headline');

  // The confusion matrix's cells hold every test image once; a cell lists its own.
  const cells = page.getByTestId('confusion-cell');
  await expect(cells).toHaveCount(CLASSES.length * CLASSES.length);
  const counts = await cells.evaluateAll((els) => els.map((e) => Number(e.parentElement!.getAttribute('data-count'))));
  const total = counts.reduce((a, b) => a + b, 0);
  await expect(page.getByTestId('headline-accuracy').locator('..')).toContainText(`${total}`);
  const busiest = counts.indexOf(Math.max(...counts));
  await cells.nth(busiest).click();
  const cellImages = page.getByTestId('cell-images').getByTestId('eval-thumb');
  await expect(cellImages).toHaveCount(counts[busiest]!);
  const confidences = await cellImages.evaluateAll((els) => els.map((e) => Number(/(\d+)%/.exec(e.textContent ?? '')![1])));
  expect(confidences, 'most confident first').toEqual([...confidences].sort((a, b) => b - a));

  // Row % shows shares: each row of the matrix sums to about 100.
  await page.getByText('row %', { exact: true }).click();
  await expect(cells.first()).toHaveText(/\d+%/);

  // An image's explanation: top classes with probabilities, and a heatmap (or its reason in words).
  await cellImages.first().click();
  const inspector = page.getByTestId('image-inspector');
  await expect(inspector).toBeVisible();
  await expect(inspector.getByTestId('explain-overlay').or(inspector.getByTestId('explain-error'))).toBeVisible({ timeout: 20_000 });
  if (await inspector.getByTestId('explain-overlay').isVisible()) {
    await expect(inspector.getByTestId('top-classes').locator('li')).toHaveCount(CLASSES.length);
    const probabilities = await inspector.getByTestId('top-classes').locator('li').evaluateAll((els) => els.map((e) => Number(/([\d.]+)%/.exec(e.textContent ?? '')![1])));
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 0);
  } else {
    await expect(inspector.getByTestId('top-classes').locator('li').first()).toContainText('%');
  }
  await shot(page, testInfo, 'evaluate-02-explanation');

  // Abstaining below 60%: saved with the run, and the view reads it back.
  await page.getByTestId('threshold-slider').fill('0.6');
  await expect(page.getByTestId('threshold-value')).toHaveText('60%');
  await page.getByTestId('save-threshold').click();
  await expect(page.getByTestId('run-calibration')).toContainText('abstains below 60%');
});
