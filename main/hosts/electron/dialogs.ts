import { app, dialog, type BrowserWindow, type FileFilter, type OpenDialogOptions } from 'electron';
import nodePath from 'node:path';
import type { PickPurpose } from '../../../shared/contract/index.ts';

const IMAGE_FILTER: FileFilter = {
  name: 'Images',
  extensions: ['jpg', 'jpeg', 'png', 'webp', 'gif', 'tif', 'tiff', 'avif', 'JPG', 'JPEG', 'PNG'],
};
const CSV_FILTER: FileFilter = { name: 'CSV files (path,label)', extensions: ['csv', 'CSV'] };
const PROJECT_FILTER: FileFilter = { name: 'Seedbed projects', extensions: ['seedbed'] };

const OPEN_DIALOGS: Record<Exclude<PickPurpose, 'new-project'>, OpenDialogOptions> = {
  'import-folder': {
    title: 'Import a folder of images',
    buttonLabel: 'Import',
    properties: ['openDirectory', 'multiSelections'],
  },
  'import-files': {
    title: 'Import images',
    buttonLabel: 'Import',
    properties: ['openFile', 'multiSelections'],
    filters: [IMAGE_FILTER],
  },
  'import-csv': {
    title: 'Import the images a CSV file lists',
    buttonLabel: 'Import',
    properties: ['openFile'],
    filters: [CSV_FILTER],
  },
  'open-project': {
    title: 'Open a project',
    buttonLabel: 'Open',
    properties: ['openFile'],
    filters: [PROJECT_FILTER],
  },
  'export-folder': {
    title: 'Export the model into a folder',
    buttonLabel: 'Export here',
    properties: ['openDirectory', 'createDirectory'],
  },
  'report-folder': {
    title: 'Save the health report into a folder',
    buttonLabel: 'Save here',
    properties: ['openDirectory', 'createDirectory'],
  },
  'card-folder': {
    title: 'Save the model card into a folder',
    buttonLabel: 'Save here',
    properties: ['openDirectory', 'createDirectory'],
  },
  'eval-folder': {
    title: 'Evaluate on a folder of labelled images (one sub-folder per class)',
    buttonLabel: 'Evaluate',
    properties: ['openDirectory'],
  },
  'models-folder': {
    title: 'Choose a folder of pretrained networks',
    buttonLabel: 'Use this folder',
    properties: ['openDirectory'],
  },
};

/** The native open or save dialog for one purpose; null when the user cancels. */
export async function pickPaths(window: BrowserWindow | null, purpose: PickPurpose): Promise<string[] | null> {
  if (purpose === 'new-project') {
    const options = {
      title: 'Create a project',
      buttonLabel: 'Create',
      defaultPath: nodePath.join(app.getPath('documents'), 'My project.seedbed'),
      filters: [PROJECT_FILTER],
      properties: ['createDirectory', 'showOverwriteConfirmation'] as ('createDirectory' | 'showOverwriteConfirmation')[],
    };
    const result = window ? await dialog.showSaveDialog(window, options) : await dialog.showSaveDialog(options);
    return result.canceled || !result.filePath ? null : [result.filePath];
  }
  const options = { ...OPEN_DIALOGS[purpose], defaultPath: app.getPath('pictures') };
  if (purpose === 'open-project' || purpose === 'export-folder' || purpose === 'models-folder' || purpose === 'report-folder' || purpose === 'card-folder') options.defaultPath = app.getPath('documents');
  const result = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options);
  return result.canceled || result.filePaths.length === 0 ? null : result.filePaths;
}
