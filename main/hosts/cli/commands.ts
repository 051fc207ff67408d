import type { CommandSpec } from './args.ts';

const projectOption = {
  name: 'project',
  value: 'FILE',
  help: 'The project file (ends in .seedbed). It holds your labels; the images stay where they are.',
  required: true,
};

export const importCommand: CommandSpec = {
  name: 'import',
  summary: 'Add a folder of images to a project (made if it does not exist yet).',
  positional: {
    name: 'FOLDER',
    many: true,
    required: false,
    help: 'A folder of images. Sub-folders named after a class (cat/, dog/) label the images inside them; a folder that holds only images (no folders of images) is labelled with its own name.',
  },
  options: [
    projectOption,
    {
      name: 'split',
      value: 'SPLIT',
      choices: ['auto', 'train', 'val', 'test', 'none'],
      help: 'Which part of the data the images belong to. auto (the default) follows top-level train/, val/ and test/ folders; train, val or test puts every image there; none leaves it open.',
    },
    { name: 'csv', value: 'FILE', help: 'A CSV file with lines "path,label" (paths relative to the CSV) to import as well as, or instead of, folders.' },
    { name: 'json', help: 'Print one JSON object with the result instead of sentences (for scripts).' },
  ],
  description: [
    'Copies nothing: Seedbed remembers where each image is, computes a fingerprint of its content, reads its size and makes a small thumbnail. The same picture found twice is kept once.',
    'Files that are not readable images (empty, damaged, too large, not a picture) are listed with the reason and do not stop the import. Press Ctrl+C to stop; what was imported so far is kept.',
  ],
  examples: [
    { command: 'seedbed import ~/photos/birds --project birds.seedbed', explains: 'Makes birds.seedbed if needed and imports every image under ~/photos/birds; a sub-folder robin/ labels its images "robin".' },
    { command: 'seedbed import --csv labels.csv --project birds.seedbed --json', explains: 'Imports the images listed in labels.csv and prints the result as JSON.' },
  ],
};

export const infoCommand: CommandSpec = {
  name: 'info',
  summary: 'Show how many images a project has, per class and split.',
  options: [projectOption, { name: 'json', help: 'Print one JSON object instead of a table (for scripts).' }],
  description: [
    'Counts the images in a project: all of them, the ones you excluded, the ones without a label yet, and for each class how many are in the train, val (validation) and test parts. Excluded images are not counted in the classes.',
  ],
  examples: [{ command: 'seedbed info --project birds.seedbed', explains: 'Prints a table of classes and their counts.' }],
};

export const serveCommand: CommandSpec = {
  name: 'serve',
  summary: 'Run the studio in your web browser instead of the desktop app.',
  options: [
    { ...projectOption, required: false, help: 'A project to open at start (made if it does not exist yet). You can also open one from the page.' },
    { name: 'port', value: 'N', help: 'The port to listen on. Default: any free port.' },
    {
      name: 'host',
      value: 'HOST',
      help: 'The network address to listen on. Default 127.0.0.1, which only this computer can reach. Give 0.0.0.0 to open the studio from other computers (they still need the printed address with its token).',
    },
  ],
  description: [
    'Starts a small web server on this computer and prints an address to open in your browser. The address carries a secret token that changes every time; only someone with it can use the studio. Keep this window open while you work, and press Ctrl+C to stop.',
  ],
  examples: [
    { command: 'seedbed serve --project birds.seedbed', explains: 'Prints an address such as http://127.0.0.1:52341/?token=… to open in the browser.' },
    { command: 'seedbed serve --host 0.0.0.0 --port 8080', explains: 'Lets other computers on your network reach the studio at this machine\'s address, port 8080.' },
  ],
};

export const COMMANDS: CommandSpec[] = [importCommand, infoCommand, serveCommand];
