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

export const trainCommand: CommandSpec = {
  name: 'train',
  summary: 'Train an image classifier on the labelled images of a project.',
  options: [
    projectOption,
    {
      name: 'backbone',
      value: 'ID',
      help: 'The pretrained network that turns each image into numbers the classifier learns from, named as TensorFlow.js names it, e.g. mobilenet_v1_0.75_224. Default: the best one on this computer.',
    },
    { name: 'epochs', value: 'N', help: 'How many times training goes over the training images at most (default 60; it stops earlier when the validation images stop improving).' },
    {
      name: 'fine-tune',
      value: 'N',
      help: 'After training the classifier, also adjust the top N blocks of the pretrained network to your images (slower, often more accurate). Default 0: no fine-tuning.',
    },
    {
      name: 'augment',
      value: 'none|PRESET|FILE.json',
      help: 'Also train on changed copies ("views") of each training image: mirrored, turned, zoomed, recoloured… none (the default), a preset (natural for everyday photos, microscopy for top-down images with no up or down, documents for scans, xray for medical images: never mirrored), or a JSON file with your own policy, as the studio\'s Balance view exports it.',
    },
    { name: 'views', value: 'K', help: 'How many augmented views of every training image (0 to 16). Default 4 with --augment, else 0. Views are summarised once and kept, like the images.' },
    {
      name: 'balance',
      value: 'none|oversample|undersample|weights|oversample+weights',
      help: 'How to even out classes with few training images: weights (the default) counts their mistakes more; oversample adds augmented views of their images up to the largest class; undersample trains on fewer images of the large classes (only in this run: nothing is removed); oversample+weights does both; none trains on the classes as they are.',
    },
    { name: 'seed', value: 'N', help: 'A number that fixes the random choices (split, shuffling, starting weights, augmented views), so a run can be repeated exactly. Default 1.' },
    {
      name: 'config',
      value: 'FILE.json',
      help: 'Training settings from a JSON file (any of the studio\'s settings, e.g. {"learningRate":0.003,"dropout":0.3}); the other options given here override it.',
    },
    { name: 'clip-norm', value: 'X', help: 'Gradient clipping: scale each training step down so its size is at most X (e.g. 1), which keeps a too-high learning rate from blowing up. Default: off.' },
    { name: 'json', help: 'Print one JSON object with the run and its metrics instead of sentences (for scripts).' },
  ],
  description: [
    'Augmented views and rebalancing only ever change the training images: the validation and test images are always the real ones, as they are.',
    'Images without a train/val/test part get one first: 70% train, 15% validation, 15% test, per class, decided by the seed. Copies of one picture always stay on one side.',
    'Each image is summarised once by the pretrained network and the summary is kept in the project, so the next run starts in seconds. A small classifier then learns from the training images; the validation images decide when to stop; the test images, never seen in training, tell how good it is.',
    'Press Ctrl+C to stop; the project is left as it was before the run (the run is kept as cancelled, with its curves so far).',
  ],
  examples: [
    { command: 'seedbed train --project birds.seedbed', explains: 'Trains with the default settings and prints test accuracy per class.' },
    { command: 'seedbed train --project birds.seedbed --backbone mobilenet_v1_0.25_224 --epochs 20 --json', explains: 'A faster, smaller network; prints JSON.' },
    { command: 'seedbed train --project cells.seedbed --augment microscopy --views 4 --balance oversample+weights', explains: 'Four turned and flipped views of every image; rare classes get extra views and count more.' },
  ],
};

export const predictCommand: CommandSpec = {
  name: 'predict',
  summary: 'Classify images with a trained run: a folder, or the unlabelled images of a project.',
  positional: { name: 'FOLDER', many: false, required: false, help: 'A folder of images to classify (nothing is imported or changed).' },
  options: [
    projectOption,
    { name: 'run', value: 'ID', help: 'Which run (its number, as `seedbed train` prints it). Default: the latest finished run.' },
    { name: 'unlabeled', help: 'Classify the project\'s images that have no label yet; the studio then shows the predictions in the gallery.' },
    { name: 'json', help: 'Print one JSON object instead of a table (for scripts).' },
  ],
  description: ['Give a FOLDER or --unlabeled. For each image: the most likely class and how sure the model is (0–100%).'],
  examples: [
    { command: 'seedbed predict ~/new-photos --project birds.seedbed', explains: 'Prints the predicted class of every image in ~/new-photos.' },
    { command: 'seedbed predict --unlabeled --project birds.seedbed --json', explains: 'Predicts the unlabelled images of the project and prints JSON.' },
  ],
};

export const evaluateCommand: CommandSpec = {
  name: 'evaluate',
  summary: 'How good a trained run is: accuracy with error bars, per class, calibration, weak groups.',
  options: [
    projectOption,
    { name: 'run', value: 'ID', help: 'Which run (its number, as `seedbed train` prints it). Default: the latest finished run.' },
    { name: 'split', value: 'test|val', choices: ['test', 'val'], help: 'Evaluate on the test images (the default: never used in training) or the validation images.' },
    { name: 'dir', value: 'FOLDER', help: 'Evaluate on a folder of new labelled images instead: one sub-folder per class, named like the run\'s classes. Nothing is imported.' },
    { name: 'json', help: 'Print one JSON object instead of sentences (for scripts).' },
  ],
  description: [
    'Prints accuracy, balanced accuracy (every class counts the same), macro and weighted F1, each with a 95% interval from 1,000 bootstrap resamples: with few test images, the interval says how much the number could move.',
    'Per class: precision, recall, F1, the area under the ROC curve (AUC) and average precision (AP). Calibration: how far the model\'s confidence is from how often it is right (expected calibration error), before and after temperature scaling fitted on the validation images. Tagged images (e.g. site=A) are compared group by group, and groups that do significantly worse than the rest are listed.',
  ],
  examples: [
    { command: 'seedbed evaluate --project birds.seedbed', explains: 'Evaluates the latest run on its test images.' },
    { command: 'seedbed evaluate --project birds.seedbed --run 2 --json', explains: 'Prints JSON with "ece" and "auc" per class.' },
  ],
};

export const reportCommand: CommandSpec = {
  name: 'report',
  summary: 'Write a run\'s model card: one HTML file saying what the model is, how good, and what not to trust it with.',
  options: [
    projectOption,
    { name: 'run', value: 'ID', help: 'Which run (its number). Default: the latest finished run.' },
    { name: 'out', value: 'FILE.html', help: 'The file to write.', required: true },
  ],
  description: [
    'The card holds the data (classes, splits, what the dataset check found and what was fixed), how the run was trained (settings, rebalancing, augmentation, curves), its test metrics with 95% intervals, the confusion matrix, calibration, groups of tagged images, robustness and cross-validation when they were run, and its limitations in sentences. It needs nothing else to open, and prints well.',
  ],
  examples: [{ command: 'seedbed report --project birds.seedbed --run 2 --out birds-model-card.html', explains: 'Writes the model card of run 2.' }],
};

export const exportCommand: CommandSpec = {
  name: 'export',
  summary: 'Save a trained run as a TensorFlow.js model you can use in your own programs.',
  options: [
    projectOption,
    { name: 'run', value: 'ID', help: 'Which run to export (its number).', required: true },
    { name: 'out', value: 'FOLDER', help: 'The folder to write into (made if needed).', required: true },
  ],
  description: [
    'Writes model.json and weights.bin (one TensorFlow.js layers model: the pretrained network and your classifier together; it takes 224×224 RGB pixels 0–255 and gives one probability per class), labels.json (the class names, in the model\'s output order) metadata.json (how it was trained and how well it did, with the temperature and threshold it predicts with) and model-card.html (the same for a person, with its limitations). The README shows how to load it in Node and in a web page.',
  ],
  examples: [{ command: 'seedbed export --project birds.seedbed --run 3 --out ./bird-model', explains: 'Writes run 3 into ./bird-model.' }],
};

export const cleanCommand: CommandSpec = {
  name: 'clean',
  summary: 'Look for problems in a dataset: duplicates, broken or poor images, strays and likely label mistakes.',
  options: [
    projectOption,
    {
      name: 'only',
      value: 'KIND,…',
      help: 'Run only these checks, separated by commas: exact_duplicate, near_duplicate, corrupt, blurry, dark, bright, low_information, too_small, odd_aspect, grayscale, outlier, label_issue, class_overlap. Default: all of them.',
    },
    { name: 'backbone', value: 'ID', help: 'The pretrained network used to compare images (outliers, near-duplicates, label mistakes). Default: the best one on this computer.' },
    { name: 'report', value: 'FOLDER', help: 'Also write the dataset health report (one HTML file you can open in any browser) into this folder.' },
    { name: 'json', help: 'Print one JSON object {"issues":[{"kind","images","score","suggested","explanation"}],"counts":{kind: N}} instead of sentences (for scripts).' },
  ],
  description: [
    'Nothing is changed, on disk or in the project\'s labels: the check only lists what it finds, most certain first. Fix or dismiss the findings in the studio\'s Clean view (every fix can be undone); findings you dismissed stay dismissed when you check again.',
    'Image measurements and the network\'s summaries of the images are kept in the project, so a second check takes seconds for the measurements and about half a minute for the label check of a few thousand images.',
    'Label mistakes are found the way cleanlab does it (confident learning): five classifiers are each trained without a fifth of the images and judge the fifth they never saw; an image whose label its judge finds very unlikely, while it is sure of another class, is listed with that class as the suggestion.',
  ],
  examples: [
    { command: 'seedbed clean --project birds.seedbed', explains: 'Runs every check and prints the findings by kind.' },
    { command: 'seedbed clean --project birds.seedbed --only exact_duplicate,near_duplicate --json', explains: 'Only the duplicate checks, as JSON.' },
    { command: 'seedbed clean --project birds.seedbed --report ./reports', explains: 'Also writes the health report into ./reports.' },
  ],
};

export const tuneCommand: CommandSpec = {
  name: 'tune',
  summary: 'Auto-tune: try many training settings and find the best for this project.',
  options: [
    projectOption,
    { name: 'trials', value: 'N', help: 'How many different settings to try (default 50). Most are stopped after a few epochs when others do clearly better.' },
    { name: 'minutes', value: 'M', help: 'Search for about M minutes instead of a number of trials (the trials running then finish).' },
    { name: 'seed', value: 'N', help: 'A number that fixes every random choice of the search, so it can be repeated exactly. Default 1.' },
    { name: 'backbone', value: 'ID[,ID…]', help: 'The pretrained network(s) to try. Default: the best one on this computer. Each extra one summarises the images first (a few minutes).' },
    { name: 'augment', value: 'PRESET|FILE.json', help: 'Also try training on augmented views of the images (natural, microscopy, documents, xray or a policy file), besides none. The views are summarised first (minutes).' },
    { name: 'views', value: 'K', help: 'Augmented views per image with --augment (default 2).' },
    { name: 'config', value: 'FILE.json', help: 'Settings to start from (as `seedbed train --config` takes them); the search tries them first and varies the rest.' },
    { name: 'resume', value: 'ID', help: 'Go on with a search that was stopped (its number, as printed when it stopped), instead of starting one.' },
    { name: 'save', value: 'FILE.json', help: 'Write the best settings to this file, ready for `seedbed train --config FILE.json`.' },
    { name: 'train', help: 'When the search ends, train a normal run with the best settings (tested on the test images, like `seedbed train`).' },
    { name: 'json', help: 'Print one JSON object (search, trials, best settings) instead of a table (for scripts).' },
  ],
  description: [
    'A search tries settings of the small classifier that learns from the pretrained network\'s summaries of your images: learning rate, dropout, L2 weight decay, hidden units, batch size, label smoothing and class weighting (and augmentation and backbones when asked). The first trial is always the settings you start from.',
    'Each trial trains on the training images and is judged only on the validation images, by macro-F1 (every class counts the same); the test images are never used, so they still tell honestly how good the final model is. Trials start with 2 epochs; the best third go on to 7, and the best third of those to 21 (successive halving). After the first trials, new settings are proposed where good ones were found (TPE).',
    'The search is kept in the project, trial by trial: Ctrl+C stops it, and --resume goes on from the last finished trial. The studio\'s Train view shows the same searches, with a chart of the score against each setting.',
  ],
  examples: [
    { command: 'seedbed tune --project birds.seedbed', explains: 'Tries 50 settings (a few minutes) and prints them, best first, with the best settings.' },
    { command: 'seedbed tune --project birds.seedbed --minutes 10 --save best.json && seedbed train --project birds.seedbed --config best.json', explains: 'Searches for 10 minutes, then trains a run with what it found.' },
    { command: 'seedbed tune --project birds.seedbed --resume 2 --train', explains: 'Finishes search 2 and trains a run with its best settings.' },
  ],
};

export const doctorCommand: CommandSpec = {
  name: 'doctor',
  summary: 'Check this computer: which engines (GPU or CPU) Seedbed can train on, and which pretrained networks it has.',
  options: [{ name: 'json', help: 'Print one JSON object instead of sentences (for scripts).' }],
  description: [
    'Seedbed trains with TensorFlow.js, which has several engines ("backends"). Seedbed tries them in this order and uses the first one that works: tensorflow-gpu (NVIDIA GPUs with CUDA 11 and cuDNN 8; an optional package), webgpu (almost any GPU, through Vulkan, Metal or Direct3D 12), tensorflow (TensorFlow\'s own CPU library; an optional package), wasm (the CPU, through WebAssembly) and cpu (the CPU in plain JavaScript). For each one, doctor says whether it works here and, if not, why and what to do.',
    'A software GPU (no graphics card, only a program that acts like one) is slower than the CPU engines: Seedbed uses it only when you ask with SEEDBED_BACKEND=webgpu. SEEDBED_BACKEND=NAME makes Seedbed use that engine or none; doctor checks that the name exists and that the engine runs here.',
    'It also lists where Seedbed looks for the pretrained networks (backbones) it starts from: the folder you chose in the studio, its own model cache, then the folder named by SEEDBED_MODELS_DIR; and which ones it found.',
    'Doctor changes nothing and starts no GPU: it only looks. It exits with 0 when Seedbed can train here, on a GPU or on the CPU (a computer without a GPU is fine), and with 1 when something must be fixed first: no engine runs, SEEDBED_BACKEND names an engine that does not exist or cannot run here, or no pretrained network is found.',
  ],
  examples: [
    { command: 'seedbed doctor', explains: 'Lists the engines, the one Seedbed will use, the pretrained networks found, and what to fix.' },
    { command: 'SEEDBED_BACKEND=webgpu seedbed doctor', explains: 'Checks that Seedbed can be made to train on the GPU through webgpu.' },
    { command: 'seedbed doctor --json', explains: 'The same as one JSON object: "backends" (each with "name", "usable", "reason" and "fix"), "uses", "models", "problems" and "ready".' },
  ],
};

export const COMMANDS: CommandSpec[] = [importCommand, infoCommand, cleanCommand, trainCommand, tuneCommand, predictCommand, evaluateCommand, reportCommand, exportCommand, serveCommand, doctorCommand];
