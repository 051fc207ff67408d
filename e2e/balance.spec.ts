import fs from 'node:fs';
import path from 'node:path';
import type { Locator, Page } from '@playwright/test';
import { importFolder, shot } from './actions.ts';
import { expect, test } from './fixtures.ts';
import { MODELS_DIR, SHARED } from './hosts.ts';

const TRASHNET = path.join(SHARED, 'data', 'trashnet');
/** An imbalanced subset: the largest class has over three times the images of the smallest. */
const SUBSET: Record<string, number> = { cardboard: 20, glass: 12, trash: 6 };

process.env.SEEDBED_MODELS_DIR ??= MODELS_DIR;

function hasBackbone(): boolean {
  return fs.existsSync(MODELS_DIR) && fs.readdirSync(MODELS_DIR).some((d) => fs.existsSync(path.join(MODELS_DIR, d, 'model.json')));
}

function makeSubset(root: string): void {
  for (const [cls, count] of Object.entries(SUBSET)) {
    fs.mkdirSync(path.join(root, cls), { recursive: true });
    const names = fs.readdirSync(path.join(TRASHNET, cls)).filter((f) => f.endsWith('.jpg'));
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    for (const name of names.slice(0, count)) fs.copyFileSync(path.join(TRASHNET, cls, name), path.join(root, cls, name));
  }
}

const count = async (cell: Locator) => Number(await cell.getAttribute('data-count'));
const chartRow = (page: Page, cls: string) => page.locator(`[data-testid="chart-row"][data-class="${cls}"]`);
const planRow = (page: Page, cls: string) => page.locator(`[data-testid="plan-row"][data-class="${cls}"]`);
const numberIn = async (cell: Locator) => Number((await cell.innerText()).replace(/[^\d]/g, ''));

async function tileSources(page: Page): Promise<string> {
  const sources = await page.getByTestId('preview-tile').locator('img').evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).src));
  return sources.join('|');
}

test('balance: per-split chart, undersampling preview, live augmentation grid, settings reach the run', async ({ studio }, testInfo) => {
  test.skip(!fs.existsSync(TRASHNET), `no dataset at ${TRASHNET}`);
  test.skip(!hasBackbone(), `no backbone model in ${MODELS_DIR}`);
  const { page } = studio;
  const subset = path.join(studio.workDir, 'subset');
  makeSubset(subset);
  await importFolder(page, subset, 60_000);
  await page.getByRole('button', { name: 'Done', exact: true }).click();

  // Ctrl+4 opens Balance; the images have no split yet, so the chart says so and offers one.
  await page.keyboard.press('Control+4');
  await expect(page.getByRole('tab', { name: 'Balance' })).toHaveAttribute('aria-selected', 'true');
  await expect(chartRow(page, 'cardboard').getByTestId('chart-none')).toHaveAttribute('data-count', String(SUBSET.cardboard));
  await page.getByTestId('assign-splits').click();
  await expect(page.getByTestId('chart-none')).toHaveCount(0);

  for (const [cls, n] of Object.entries(SUBSET)) {
    const row = chartRow(page, cls);
    const [train, val, test] = await Promise.all(['train', 'val', 'test'].map((s) => count(row.getByTestId(`chart-${s}`))));
    expect(train! + val! + test!, `${cls}: every image in one split`).toBe(n);
    expect(train!, `${cls}: most images train`).toBeGreaterThan(val! + test!);
  }
  const trashTrain = await count(chartRow(page, 'trash').getByTestId('chart-train'));
  const cardboardTrain = await count(chartRow(page, 'cardboard').getByTestId('chart-train'));
  await expect(page.getByTestId('imbalance')).toContainText(`cardboard has ${(cardboardTrain / trashTrain).toFixed(1)}×`);

  // Undersampling to the median class leaves cardboard images out of the run.
  await expect(planRow(page, 'cardboard').getByTestId('plan-examples')).toHaveText(String(cardboardTrain));
  await page.getByRole('radio', { name: /Undersample/ }).check();
  await expect(async () => {
    const kept = await numberIn(planRow(page, 'cardboard').getByTestId('plan-examples'));
    expect(kept).toBeLessThan(cardboardTrain);
    expect(kept).toBe(await count(chartRow(page, 'glass').getByTestId('chart-train')));
  }).toPass();
  await expect(planRow(page, 'trash').getByTestId('plan-examples')).toHaveText(String(trashTrain));

  // The natural-photos policy (turning augmentation on starts at 4 views): the grid shows fourteen views, and a stronger rotation changes them.
  await page.getByTestId('augment-preset').selectOption('natural');
  await expect(page.getByTestId('preview-tile')).toHaveCount(14);
  await expect(page.getByTestId('policy-caption')).toContainText('rotate up to ±15°');
  const before = await tileSources(page);
  await page.getByText('Edit steps').click();
  await page.getByRole('slider', { name: 'Rotate: strength' }).fill('1');
  await expect(page.getByTestId('augment-preset')).toHaveValue('custom');
  await expect(page.getByTestId('policy-caption')).toContainText('rotate up to ±45°');
  await expect.poll(() => tileSources(page)).not.toBe(before);
  await expect(page.getByTestId('preview-tile')).toHaveCount(14);
  await shot(page, testInfo, 'balance-view');

  // Oversampling with the custom policy: the Train view names it, and the run's plan shows it.
  await page.getByRole('radio', { name: /Oversample with augmentation/ }).check();
  await expect(async () => {
    const views = await planRow(page, 'trash').locator('td').nth(1).innerText();
    expect(views).toMatch(/^\+\d+/);
  }).toPass();
  await page.getByRole('tab', { name: 'Train' }).click();
  await expect(page.getByTestId('train-balance-summary')).toContainText('Balance: oversample with augmentation to the largest class');
  await expect(page.getByTestId('train-balance-summary')).toContainText('Augmentation: custom, 4 views');
  await page.getByLabel('Epochs', { exact: true }).fill('3');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('run-status')).toHaveText(/done/i, { timeout: 150_000 });
  const plan = page.getByTestId('run-plan');
  await expect(plan.getByTestId('run-plan-strategy')).toHaveText('oversample with augmentation');
  await expect(plan).toContainText('custom');
  await expect(plan.getByTestId('run-plan-examples')).toContainText(/augmented views?/);
  await shot(page, testInfo, 'run-plan');
});
