import fs from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { importFolder, shot } from './actions.ts';
import { expect, test } from './fixtures.ts';
import { ROOT, SHARED } from './hosts.ts';

const TRASHNET = path.join(SHARED, 'data', 'trashnet');



/** The count a class row shows, e.g. 501 for "glass 501". */
async function classCount(page: Page, name: string): Promise<number> {
  const text = (await page.getByTestId(`class-${name}`).textContent()) ?? '';
  const match = /([\d,]+)\s*$/.exec(text.trim());
  if (!match) throw new Error(`no count in class row "${text}"`);
  return Number(match[1]!.replace(/,/g, ''));
}

const gallery = (page: Page) => page.getByRole('grid');
const cells = (page: Page) => page.getByRole('gridcell');

test('import TrashNet, label by keyboard, undo, filter, exclude and restore; all of it survives a reload', async ({ studio }, testInfo) => {
  test.skip(!fs.existsSync(TRASHNET), `no dataset at ${TRASHNET}`);
  const { page } = studio;

  await expect(page.getByTestId('empty-project')).toBeVisible();
  await shot(page, testInfo, '01-empty-project');

  await importFolder(page, TRASHNET);
  const report = page.getByTestId('import-report');
  await expect(report).toContainText('2,524');
  // Three TrashNet files are byte-identical copies of photos in glass/: the report names them.
  await expect(page.getByTestId('import-conflicts')).toContainText('metal91.jpg');
  await shot(page, testInfo, '02-import-report-trashnet');
  await page.getByRole('button', { name: 'Done', exact: true }).click();

  await expect(gallery(page)).toHaveAccessibleName('Images, 2,524 images');
  const expected = { cardboard: 403, glass: 501, metal: 409, paper: 594, plastic: 480, trash: 137 };
  for (const [name, n] of Object.entries(expected)) expect(await classCount(page, name), name).toBe(n);
  await expect(page.getByTestId('distribution-bar')).toBeVisible();
  await shot(page, testInfo, '03-gallery-2524');

  // Filter by class, then label three images with the keyboard: 2 is glass's key.
  await page.getByTestId('class-trash').getByRole('button', { name: /^trash/ }).click();
  await expect(gallery(page)).toHaveAccessibleName('Images, 137 images');
  await cells(page).nth(0).click();
  await cells(page).nth(2).click({ modifiers: ['Shift'] });
  await expect(page.getByTestId('selection-count')).toHaveText('3 selected');
  await shot(page, testInfo, '04-selection');
  await page.keyboard.press('2');
  await expect.poll(() => classCount(page, 'glass')).toBe(504);
  expect(await classCount(page, 'trash')).toBe(134);
  await expect(gallery(page)).toHaveAccessibleName('Images, 134 images');

  // Undo puts them back; redo labels them again (and that stays).
  await page.keyboard.press('Control+z');
  await expect.poll(() => classCount(page, 'glass')).toBe(501);
  expect(await classCount(page, 'trash')).toBe(137);
  await page.keyboard.press('Control+Shift+z');
  await expect.poll(() => classCount(page, 'glass')).toBe(504);

  // Exclude one image, see it under "Excluded", restore it; then exclude another for good.
  await cells(page).nth(0).click();
  const firstName = await cells(page).nth(0).getAttribute('aria-label');
  await page.keyboard.press('x');
  await expect(page.getByTestId('filter-excluded')).toHaveAccessibleName('Excluded 1');
  await expect.poll(() => classCount(page, 'trash')).toBe(133);
  await page.getByTestId('filter-excluded').click();
  await expect(gallery(page)).toHaveAccessibleName('Images, 1 image');
  await expect(cells(page).nth(0)).toHaveAttribute('aria-label', firstName!);
  await shot(page, testInfo, '05-excluded');
  await cells(page).nth(0).click();
  await page.getByRole('button', { name: 'Restore', exact: true }).click();
  await expect(page.getByTestId('filter-excluded')).toHaveAccessibleName('Excluded 0');
  await expect.poll(() => classCount(page, 'trash')).toBe(134);
  await page.getByTestId('filter-all').click();
  await expect(gallery(page)).toHaveAccessibleName('Images, 2,524 images');
  await cells(page).nth(5).click();
  const excludedName = await cells(page).nth(5).getAttribute('aria-label');
  await page.keyboard.press('x');
  await expect(page.getByTestId('filter-excluded')).toHaveAccessibleName('Excluded 1');

  // File-name search.
  const paperOnes = fs.readdirSync(path.join(TRASHNET, 'paper')).filter((f) => f.startsWith('paper1')).length;
  await page.getByLabel('Search file names').fill('paper1');
  await expect(gallery(page)).toHaveAccessibleName(`Images, ${paperOnes.toLocaleString('en')} images`);
  await shot(page, testInfo, '06-search');
  await page.getByLabel('Search file names').fill('');
  await expect(gallery(page)).toHaveAccessibleName('Images, 2,523 images');

  // Everything was saved the moment it happened: a reload shows the same project.
  const before = Object.fromEntries(await Promise.all(Object.keys(expected).map(async (n) => [n, await classCount(page, n)] as const)));
  // The gallery is sorted by path, so the sixth of all images is a cardboard photo.
  expect(excludedName).toMatch(/^cardboard/);
  expect(before).toEqual({ ...expected, glass: 504, trash: 134, cardboard: 402 });
  await page.reload();
  await expect(gallery(page)).toHaveAccessibleName('Images, 2,523 images');
  for (const [name, n] of Object.entries(before)) expect(await classCount(page, name), name).toBe(n);
  await expect(page.getByTestId('filter-excluded')).toHaveAccessibleName('Excluded 1');
  await page.getByTestId('filter-excluded').click();
  await expect(cells(page).nth(0)).toHaveAttribute('aria-label', excludedName!);
  // The undo history survives too.
  await expect(page.getByRole('button', { name: 'Undo', exact: true })).toBeEnabled();
  await shot(page, testInfo, '07-after-reload');
});

test('three images: a report with a bad file, preview and labeling from it, class deletion, help', async ({ studio }, testInfo) => {
  const { page } = studio;
  const folder = path.join(studio.workDir, 'three');
  fs.mkdirSync(folder);
  const sample = path.join(ROOT, 'resources', 'sample');
  fs.mkdirSync(path.join(folder, 'glass'));
  fs.mkdirSync(path.join(folder, 'metal'));
  fs.copyFileSync(path.join(sample, 'glass', 'glass1.jpg'), path.join(folder, 'glass', 'glass1.jpg'));
  fs.copyFileSync(path.join(sample, 'metal', 'metal1.jpg'), path.join(folder, 'metal', 'metal1.jpg'));
  fs.copyFileSync(path.join(sample, 'paper', 'paper1.jpg'), path.join(folder, 'loose photo é.jpg'));
  fs.writeFileSync(path.join(folder, 'metal', 'not-really.jpg'), 'this is text, not a JPEG');
  fs.writeFileSync(path.join(folder, '.DS_Store'), 'litter');

  await importFolder(page, folder);
  const report = page.getByTestId('import-report');
  await expect(report).toContainText('not-really.jpg');
  await expect(report).not.toContainText('.DS_Store');
  await shot(page, testInfo, '10-import-report-skipped');
  await page.getByRole('button', { name: 'Done', exact: true }).click();
  await expect(gallery(page)).toHaveAccessibleName('Images, 3 images');
  await expect(page.getByTestId('filter-unlabeled')).toHaveAccessibleName('Unlabeled 1');
  await shot(page, testInfo, '11-gallery-3');

  // Open the unlabeled photo large and label it from the preview: 2 is metal's key.
  await page.getByTestId('filter-unlabeled').click();
  await cells(page).nth(0).dblclick();
  const preview = page.getByTestId('preview');
  await expect(preview).toBeVisible();
  await expect(preview).toContainText('loose photo é.jpg');
  await shot(page, testInfo, '12-preview');
  await page.keyboard.press('2');
  await expect.poll(() => classCount(page, 'metal')).toBe(2);
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('filter-unlabeled')).toHaveAccessibleName('Unlabeled 0');

  // Deleting a class asks first and says what happens to its images; undo brings it back.
  await page.getByTestId('filter-all').click();
  await page.getByTestId('class-metal').hover();
  await page.getByRole('button', { name: 'Actions for metal' }).click();
  await page.getByRole('menuitem', { name: /Delete class/ }).click();
  const confirm = page.getByTestId('confirm-delete-class');
  await expect(confirm).toContainText('2 images');
  await shot(page, testInfo, '13-delete-class');
  await confirm.getByRole('button', { name: /Delete/ }).click();
  await expect(page.getByTestId('class-metal')).toHaveCount(0);
  await expect(page.getByTestId('filter-unlabeled')).toHaveAccessibleName('Unlabeled 2');
  await page.keyboard.press('Control+z');
  await expect.poll(() => classCount(page, 'metal')).toBe(2);

  await page.keyboard.press('?');
  await expect(page.getByTestId('help')).toBeVisible();
  await shot(page, testInfo, '14-help');
});

test('a first-time user can open the sample project from the welcome screen', async ({ studio }, testInfo) => {
  const { page } = studio;
  await page.getByRole('button', { name: 'Project: e2e' }).click();
  await page.getByRole('menuitem', { name: 'Close project' }).click();
  await expect(page.getByRole('button', { name: 'Open the sample project' })).toBeVisible();
  await shot(page, testInfo, '20-welcome');
  await page.getByRole('button', { name: 'Open the sample project' }).click();
  await expect(gallery(page)).toHaveAccessibleName('Images, 30 images', { timeout: 60_000 });
  for (const name of ['cardboard', 'glass', 'metal', 'paper', 'plastic', 'trash']) {
    expect(await classCount(page, name), name).toBe(5);
  }
  await shot(page, testInfo, '21-sample-project');
});

test('files dropped on the window are uploaded and imported; a bad one is reported by its dropped name', async ({ studio, host }, testInfo) => {
  // A page-made File has no path on disk: Electron imports drops by path, so only the browser host uploads.
  test.skip(host === 'electron', 'Electron imports dropped files by their path; a synthetic drop has none');
  const { page } = studio;
  const sample = path.join(ROOT, 'resources', 'sample');
  const files = [
    { name: 'glass2.jpg', b64: fs.readFileSync(path.join(sample, 'glass', 'glass2.jpg')).toString('base64') },
    { name: 'paper2.jpg', b64: fs.readFileSync(path.join(sample, 'paper', 'paper2.jpg')).toString('base64') },
    { name: 'broken.jpg', b64: Buffer.from('not a jpeg at all').toString('base64') },
  ];
  await expect(page.getByTestId('empty-project')).toBeVisible();
  await page.evaluate((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: 'image/jpeg' }));
    }
    (window as unknown as { droppedForTest: DataTransfer }).droppedForTest = dt;
    for (const type of ['dragenter', 'dragover']) {
      document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, files);
  await shot(page, testInfo, '30-drop-overlay');
  await page.evaluate(() => {
    const dt = (window as unknown as { droppedForTest: DataTransfer }).droppedForTest;
    document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  const report = page.getByTestId('import-report');
  await expect(report).toBeVisible({ timeout: 60_000 });
  await expect(report).toContainText('Imported 2 new images');
  await expect(report.getByRole('row', { name: /broken\.jpg/ })).toContainText('not an image');
  await shot(page, testInfo, '31-drop-report');
  await page.getByRole('button', { name: 'Done', exact: true }).click();
  await expect(gallery(page)).toHaveAccessibleName('Images, 2 images');
  await expect(page.getByTestId('filter-unlabeled')).toHaveAccessibleName('Unlabeled 2');
});
