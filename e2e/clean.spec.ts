import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { Page } from '@playwright/test';
import { importFolder, shot } from './actions.ts';
import { expect, test } from './fixtures.ts';
import { MODELS_DIR, SHARED } from './hosts.ts';

const TRASHNET = path.join(SHARED, 'data', 'trashnet');
const CLASSES = ['cardboard', 'glass', 'metal'];
const PER_CLASS = 8;

// The Electron fixture passes this process's environment on; the web host gets it from startServe.
process.env.SEEDBED_MODELS_DIR ??= MODELS_DIR;

/** Some backbone in the shared models folder: the check's embedding detectors need one. */
function hasBackbone(): boolean {
  return fs.existsSync(MODELS_DIR) && fs.readdirSync(MODELS_DIR).some((d) => fs.existsSync(path.join(MODELS_DIR, d, 'model.json')));
}

function firstFiles(className: string, count: number): string[] {
  const names = fs.readdirSync(path.join(TRASHNET, className)).filter((f) => f.endsWith('.jpg'));
  names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return names.slice(0, count);
}

/**
 * Eight TrashNet photos in each of three class folders, one of the glass photos copied byte
 * for byte into the metal folder (an exact duplicate whose folders disagree), a photo with a
 * smaller re-encoded copy of itself (near-duplicates), and a darkened copy of a cardboard
 * photo (too dark against the rest).
 */
async function makeDirtySubset(root: string): Promise<void> {
  for (const cls of CLASSES) {
    fs.mkdirSync(path.join(root, cls), { recursive: true });
    for (const name of firstFiles(cls, PER_CLASS)) fs.copyFileSync(path.join(TRASHNET, cls, name), path.join(root, cls, name));
  }
  const glass = firstFiles('glass', 1)[0]!;
  fs.copyFileSync(path.join(TRASHNET, 'glass', glass), path.join(root, 'metal', `copy-of-${glass}`));
  const cardboard = firstFiles('cardboard', PER_CLASS + 1).at(-1)!;
  // A near-duplicate: the next metal photo, resized to 80% and re-encoded, beside its original.
  const metal = firstFiles('metal', PER_CLASS + 1).at(-1)!;
  fs.copyFileSync(path.join(TRASHNET, 'metal', metal), path.join(root, 'metal', metal));
  await sharp(path.join(TRASHNET, 'metal', metal)).resize(192, 256).jpeg({ quality: 60 }).toFile(path.join(root, 'metal', `small-${metal}`));
  await sharp(path.join(TRASHNET, 'cardboard', cardboard)).modulate({ brightness: 0.12 }).jpeg({ quality: 90 }).toFile(path.join(root, 'cardboard', `dark-${cardboard}`));
}

const queueCount = (page: Page, kind: string) => page.getByTestId(`queue-${kind}`).getByTestId('queue-count');

test('clean from the UI: check the dataset, review duplicates and dark images with one key, undo', async ({ studio }, testInfo) => {
  test.skip(!fs.existsSync(TRASHNET), `no dataset at ${TRASHNET}`);
  test.skip(!hasBackbone(), `no backbone model in ${MODELS_DIR}`);
  const { page } = studio;
  const subset = path.join(studio.workDir, 'dirty-subset');
  await makeDirtySubset(subset);

  await importFolder(page, subset, 60_000);
  await page.getByRole('button', { name: 'Done', exact: true }).click();
  // 24 photos, the near-duplicate pair and the darkened one; the exact copy is the same content, so one image with two paths.
  await expect(page.getByRole('grid')).toHaveAccessibleName(`Images, ${CLASSES.length * PER_CLASS + 3} images`);

  await page.keyboard.press('Control+3');
  await expect(page.getByRole('tab', { name: 'Clean' })).toHaveAttribute('aria-selected', 'true');
  const health = page.getByTestId('health');
  await expect(health).toContainText('27 images');
  await expect(page.getByTestId('last-check')).toHaveText('Not checked yet');
  const empty = page.getByTestId('clean-empty-check');
  await expect(empty).toContainText('look for duplicates, broken or poor images, outliers and label errors');
  await shot(page, testInfo, 'clean-01-before-check');

  await empty.getByRole('button', { name: 'Check dataset' }).click();
  await expect(page.getByTestId('last-check')).toContainText('Last checked', { timeout: 150_000 });
  await expect(page.getByTestId('check-progress')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Check again' })).toBeEnabled();

  // The queues: the copy across class folders and the darkened photo are found.
  await expect(queueCount(page, 'exact_duplicate')).toHaveText('1');
  await expect(queueCount(page, 'dark')).not.toHaveText('0');
  const darkBefore = Number(await queueCount(page, 'dark').textContent());

  // Exact duplicates: one card, the two paths, the folders' disagreement called out.
  await page.getByTestId('queue-exact_duplicate').click();
  await expect(page.getByTestId('queue-title')).toHaveText('Exact duplicates');
  const cards = page.getByTestId('finding');
  await expect(cards).toHaveCount(1);
  await expect(cards.first()).toContainText('labels disagree');
  await expect(cards.first().getByRole('list', { name: 'Files' }).getByRole('listitem')).toHaveCount(2);
  await shot(page, testInfo, 'clean-02-duplicates');

  // D dismisses the focused card; Ctrl+Z brings it back.
  await cards.first().click();
  await page.keyboard.press('d');
  await expect(queueCount(page, 'exact_duplicate')).toHaveText('0');
  await expect(page.getByTestId('queue-empty')).toContainText('Nothing open here');
  await page.keyboard.press('Control+z');
  await expect(queueCount(page, 'exact_duplicate')).toHaveText('1');
  await expect(cards).toHaveCount(1);

  // Too dark: X excludes the image (the health counts say so); Ctrl+Z restores it.
  await page.getByTestId('queue-dark').click();
  await expect(page.getByTestId('queue-title')).toHaveText('Too dark');
  await expect(cards.first()).toContainText(/dark-cardboard/);
  await shot(page, testInfo, 'clean-03-dark');
  await cards.first().click();
  await page.keyboard.press('x');
  await expect(queueCount(page, 'dark')).toHaveText(String(darkBefore - 1));
  await expect(page.getByRole('status').filter({ hasText: 'Excluded 1 image' })).toBeVisible();
  await expect(health.locator('dl')).toContainText(/excluded\s*1/);
  await page.keyboard.press('Control+z');
  await expect(queueCount(page, 'dark')).toHaveText(String(darkBefore));
  await expect(health.locator('dl')).toContainText(/excluded\s*0/);

  // Near-duplicates side by side: the suggested keeper marked, the sizes that differ; "Keep this" on the other copy.
  await expect(queueCount(page, 'near_duplicate')).not.toHaveText('0');
  const nearBefore = Number(await queueCount(page, 'near_duplicate').textContent());
  await page.getByTestId('queue-near_duplicate').click();
  const group = cards.filter({ hasText: /small-metal/ }).first();
  await expect(group.locator('.keeper')).toHaveCount(1);
  await expect(group.locator('.diff').first()).toBeVisible();
  await shot(page, testInfo, 'clean-04-near-duplicates');
  await group.getByRole('button', { name: 'Keep this' }).first().click();
  await expect(queueCount(page, 'near_duplicate')).toHaveText(String(nearBefore - 1));
  await expect(health.locator('dl')).toContainText(/excluded\s*1/);
  await page.keyboard.press('Control+z');
  await expect(queueCount(page, 'near_duplicate')).toHaveText(String(nearBefore));
  await expect(health.locator('dl')).toContainText(/excluded\s*0/);

  // A label-issue or outlier queue, when the check found one, for the record.
  for (const kind of ['label_issue', 'outlier']) {
    if ((await queueCount(page, kind).textContent()) !== '0') {
      await page.getByTestId(`queue-${kind}`).click();
      await expect(cards.first()).toBeVisible();
      await shot(page, testInfo, `clean-05-${kind}`);
      break;
    }
  }

  // Dismissed stays findable: dismiss the duplicate, look in Dismissed, reopen it with U.
  await page.getByTestId('queue-exact_duplicate').click();
  await cards.first().click();
  await page.keyboard.press('d');
  await expect(queueCount(page, 'exact_duplicate')).toHaveText('0');
  await page.getByRole('radio', { name: 'Dismissed' }).click();
  await expect(queueCount(page, 'exact_duplicate')).toHaveText('1');
  await expect(cards).toHaveCount(1);
  await expect(cards.first()).toContainText('dismissed');
  await shot(page, testInfo, 'clean-06-dismissed');
  await cards.first().click();
  await page.keyboard.press('u');
  await expect(page.getByTestId('queue-empty')).toContainText('Nothing dismissed here');
  await page.getByRole('radio', { name: 'Open' }).click();
  await expect(queueCount(page, 'exact_duplicate')).toHaveText('1');
});

test('clean view of a one-image project: health shows, the check runs and says what it could not do', async ({ studio }, testInfo) => {
  test.skip(!fs.existsSync(TRASHNET), `no dataset at ${TRASHNET}`);
  test.skip(!hasBackbone(), `no backbone model in ${MODELS_DIR}`);
  const { page } = studio;
  const one = path.join(studio.workDir, 'one', 'glass');
  fs.mkdirSync(one, { recursive: true });
  fs.copyFileSync(path.join(TRASHNET, 'glass', firstFiles('glass', 1)[0]!), path.join(one, 'only.jpg'));

  await page.keyboard.press('Control+3');
  // Nothing imported yet: the view says so and offers the import.
  await page.getByRole('tab', { name: 'Clean' }).click();
  await expect(page.getByTestId('clean-empty-project')).toBeVisible();
  await shot(page, testInfo, 'clean-10-no-images');

  await importFolder(page, path.dirname(one), 60_000);
  await page.getByRole('button', { name: 'Done', exact: true }).click();
  await expect(page.getByTestId('health')).toContainText('1 image');
  await page.getByTestId('clean-empty-check').getByRole('button', { name: 'Check dataset' }).click();
  await expect(page.getByTestId('last-check').filter({ hasText: 'Last checked' }).or(page.getByTestId('check-error'))).toBeVisible({ timeout: 60_000 });
  await shot(page, testInfo, 'clean-11-one-image');
  await expect(page.getByTestId('check-error')).toHaveCount(0);
});
