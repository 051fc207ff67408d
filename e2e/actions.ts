import { expect, type Page, type TestInfo } from '@playwright/test';

/** Imports a folder through the import dialog, typing its path into the in-app chooser; waits for the report. */
export async function importFolder(page: Page, folder: string, timeout = 240_000): Promise<void> {
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await page.getByRole('button', { name: 'Add folder…' }).click();
  const pathField = page.getByLabel('Path', { exact: true });
  await pathField.fill(folder);
  await pathField.press('Enter');
  await page.getByRole('button', { name: 'Choose this folder' }).click();
  await page.getByRole('button', { name: 'Start import' }).click();
  await expect(page.getByTestId('import-report')).toBeVisible({ timeout });
}

/** Saves a screenshot as a test artifact (test-results/…) and attaches it to the report. */
export async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const file = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path: file });
  await testInfo.attach(name, { path: file, contentType: 'image/png' });
}
