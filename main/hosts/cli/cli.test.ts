import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { BACKENDS } from '../../core/ml/runtime.ts';
import { softwareGpuEnv } from '../../core/ml/software-gpu.ts';
import type { DoctorReport } from './doctor-command.ts';

// Every assert.ok carries a message: without one, Node builds it by re-reading the source,
// which under tsx's source maps can stall the run instead of reporting the failure.

const ROOT = nodePath.resolve(import.meta.dirname, '..', '..', '..');
const CLI = nodePath.join(ROOT, 'main', 'hosts', 'cli', 'main.ts');
const TRASHNET = nodePath.resolve(ROOT, '..', 'shared', 'data', 'trashnet');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-cli-test-'));
const env: NodeJS.ProcessEnv = { ...process.env, SEEDBED_STATE_DIR: nodePath.join(dir, 'state') };
delete env.SEEDBED_DEBUG;

/** Runs the CLI from source, as `seedbed …` would (in `env`, unless the options give another environment). */
function seedbed(args: string[], options: { onSpawn?: (pid: number) => void; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env: options.env ?? env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (child.pid) options.onSpawn?.(child.pid);
  });
}

function assertNoStack(text: string): void {
  assert.ok(!/^\s+at .+:\d+:\d+\)?$/m.test(text), `a stack trace reached the user:\n${text}`);
}

async function solidImage(path: string, colour: { r: number; g: number; b: number }): Promise<void> {
  fs.mkdirSync(nodePath.dirname(path), { recursive: true });
  await sharp({ create: { width: 48, height: 32, channels: 3, background: colour } }).png().toFile(path);
}

describe('seedbed import and info', () => {
  const images = nodePath.join(dir, 'pets');
  const project = nodePath.join(dir, 'pets.seedbed');

  before(async () => {
    await solidImage(nodePath.join(images, 'cats', 'tabby.png'), { r: 200, g: 120, b: 40 });
    await solidImage(nodePath.join(images, 'cats', 'black.png'), { r: 10, g: 10, b: 10 });
    await solidImage(nodePath.join(images, 'dogs', 'white.png'), { r: 250, g: 250, b: 250 });
    // Looks like a JPEG by its name and first bytes, then stops: a truncated download.
    fs.writeFileSync(nodePath.join(images, 'dogs', 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]));
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('import --json makes the project, imports the good files and lists the bad one', async () => {
    const run = await seedbed(['import', images, '--project', project, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `one JSON object expected, got:\n${run.stdout}`);
    const result = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(result), ['imported', 'duplicates', 'unchanged', 'skipped', 'classes', 'conflicts']);
    assert.equal(result.imported, 3);
    assert.equal(result.duplicates, 0);
    assert.deepEqual(result.classes, { cats: 2, dogs: 1 });
    const skipped = result.skipped as { path: string; reason: string }[];
    assert.equal(skipped.length, 1, JSON.stringify(skipped));
    assert.deepEqual(Object.keys(skipped[0]!), ['path', 'reason']);
    assert.equal(skipped[0]!.path, nodePath.join(images, 'dogs', 'broken.jpg'));
    assert.ok(skipped[0]!.reason.length > 5, `reason: ${skipped[0]!.reason}`);
    assert.ok(fs.existsSync(project), 'the project file was made');
  });

  test('importing the same folder again adds nothing', async () => {
    const run = await seedbed(['import', images, '--project', project, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { imported: number; duplicates: number; unchanged: number; classes: Record<string, number> };
    assert.equal(result.imported, 0);
    assert.equal(result.duplicates, 0, 'nothing is a copy of another file');
    assert.equal(result.unchanged, 3);
    assert.deepEqual(result.classes, { cats: 2, dogs: 1 });
  });

  test('import without --json tells a person what happened', async () => {
    const run = await seedbed(['import', images, '--project', project]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Imported 0 new images/);
    assert.match(run.stdout, /broken\.jpg/);
    assert.match(run.stdout, /cats\s+2/);
  });

  test('info --json has exactly the documented shape', async () => {
    const run = await seedbed(['info', '--project', project, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const info = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.deepEqual(info, {
      images: 3,
      excluded: 0,
      unlabeled: 0,
      classes: {
        cats: { total: 2, train: 0, val: 0, test: 0 },
        dogs: { total: 1, train: 0, val: 0, test: 0 },
      },
    });
    assert.deepEqual(Object.keys(info), ['images', 'excluded', 'unlabeled', 'classes']);
  });

  test('--split train puts the images of an import in the training part', async () => {
    const more = nodePath.join(dir, 'more');
    await solidImage(nodePath.join(more, 'birds', 'blue.png'), { r: 20, g: 60, b: 230 });
    const imported = await seedbed(['import', more, '--project', project, '--split', 'train', '--json']);
    assert.equal(imported.code, 0, imported.stderr);
    const info = JSON.parse((await seedbed(['info', '--project', project, '--json'])).stdout) as {
      classes: Record<string, { total: number; train: number }>;
    };
    assert.deepEqual(info.classes.birds, { total: 1, train: 1, val: 0, test: 0 });
  });

  test('info without --json prints a table', async () => {
    const run = await seedbed(['info', '--project', project]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /4 images/);
    assert.match(run.stdout, /cats\s+2\s+0\s+0\s+0/);
  });

  test('bad arguments exit with 2 and one sentence on stderr', async () => {
    const cases = [
      ['import', images],
      ['import', images, '--project'],
      ['import', images, '--project', project, '--split', 'sideways'],
      ['import', '--project', project],
      ['import', nodePath.join(dir, 'no-such-folder'), '--project', project],
      ['info', '--project', project, '--colour'],
      ['info', 'extra', '--project', project],
      ['serve', '--port', 'eighty'],
      ['frobnicate'],
      [],
    ];
    for (const args of cases) {
      const run = await seedbed(args);
      assert.equal(run.code, 2, `seedbed ${args.join(' ')} → ${run.code}\n${run.stderr}`);
      assert.ok(run.stderr.trim().length > 10, `seedbed ${args.join(' ')} said nothing`);
      assertNoStack(run.stderr);
      assert.equal(run.stdout, '', `seedbed ${args.join(' ')} wrote to stdout`);
    }
  });

  test('a project that cannot be used exits with 1 and says why', async () => {
    const missing = await seedbed(['info', '--project', nodePath.join(dir, 'absent.seedbed')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no project at/i);

    const noFolder = await seedbed(['import', images, '--project', nodePath.join(dir, 'no', 'such', 'place.seedbed')]);
    assert.equal(noFolder.code, 1);
    assert.match(noFolder.stderr, /does not exist/);
    assertNoStack(noFolder.stderr);

    const notAProject = nodePath.join(dir, 'notes.seedbed');
    fs.writeFileSync(notAProject, 'this is a text file, not a database '.repeat(100));
    const unreadable = await seedbed(['info', '--project', notAProject]);
    assert.equal(unreadable.code, 1);
    assert.ok(unreadable.stderr.includes(notAProject), unreadable.stderr);
    assertNoStack(unreadable.stderr);

    const future = nodePath.join(dir, 'future.seedbed');
    fs.copyFileSync(project, future);
    const db = new Database(future);
    db.pragma('user_version = 9999');
    db.close();
    const tooNew = await seedbed(['info', '--project', future]);
    assert.equal(tooNew.code, 1);
    assert.match(tooNew.stderr, /newer/i);
    assertNoStack(tooNew.stderr);
  });

  test('clean --json lists the unreadable file and the blank images, in exactly the documented shape', async () => {
    const run = await seedbed(['clean', '--project', project, '--only', 'corrupt,low_information,exact_duplicate', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { issues: { kind: string; images: string[]; score: number; suggested: string }[]; counts: Record<string, number> };
    assert.deepEqual(Object.keys(out), ['issues', 'counts']);
    // Every image of this project is one flat colour: nothing to see in any of them.
    const info = JSON.parse((await seedbed(['info', '--project', project, '--json'])).stdout) as { images: number };
    assert.deepEqual(out.counts, { corrupt: 1, low_information: info.images, exact_duplicate: 0 });
    const corrupt = out.issues.find((i) => i.kind === 'corrupt')!;
    assert.deepEqual(corrupt.images, [nodePath.join(images, 'dogs', 'broken.jpg')]);
    assert.deepEqual(Object.keys(corrupt), ['kind', 'images', 'score', 'suggested', 'explanation']);
    assert.ok(out.issues.filter((i) => i.kind === 'low_information').every((i) => i.images.length === 1 && /\.png$/.test(i.images[0]!) && i.suggested === 'Exclude'), JSON.stringify(out.issues));
    const text = await seedbed(['clean', '--project', project, '--only', 'corrupt']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Unreadable files \(corrupt\): 1/);
    assert.match(text.stdout, /broken\.jpg/);
    const bad = await seedbed(['clean', '--project', project, '--only', 'blurry,fuzzy']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"fuzzy" is not one/);
  });

  test('--help explains every command', async () => {
    const general = await seedbed(['--help']);
    assert.equal(general.code, 0);
    for (const name of ['import', 'info', 'clean', 'train', 'predict', 'evaluate', 'export', 'serve']) assert.match(general.stdout, new RegExp(`^  ${name}\\s`, 'm'));
    for (const name of ['import', 'info', 'clean', 'train', 'predict', 'export', 'serve']) {
      const run = await seedbed([name, '--help']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^Usage: seedbed ${name}`));
      assert.match(run.stdout, /Examples:/);
      if (name === 'import') {
        for (const option of ['--project FILE', '--split', '--csv FILE', '--json']) assert.ok(run.stdout.includes(option), option);
        const viaHelp = await seedbed(['help', name]);
        assert.equal(viaHelp.stdout, run.stdout);
      }
    }
  });

  test('Ctrl+C cancels a running import, keeps what was done and exits 130', { skip: !fs.existsSync(TRASHNET) && 'needs ../shared/data/trashnet' }, async () => {
    const big = nodePath.join(dir, 'interrupted.seedbed');
    let pid = 0;
    let exited: Run | null = null;
    const running = seedbed(['import', TRASHNET, '--project', big, '--json'], { onSpawn: (p) => (pid = p) });
    void running.then((run) => (exited = run));
    // Wait until the job is recorded and has made progress, by reading the project itself.
    const deadline = Date.now() + 60_000;
    for (;;) {
      assert.ok(Date.now() < deadline, 'the import never started');
      assert.equal(exited, null, `the import ended before Ctrl+C: ${JSON.stringify(exited)}`);
      await new Promise((r) => setTimeout(r, 200));
      if (!fs.existsSync(big)) continue;
      try {
        const db = new Database(big, { readonly: true, fileMustExist: true });
        const job = db.prepare("SELECT done FROM jobs WHERE status = 'running'").get() as { done: number } | undefined;
        db.close();
        if (job && job.done > 0) break;
      } catch {
        // The file exists before its tables do.
      }
    }
    process.kill(pid, 'SIGINT');
    const run = await running;
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stderr, /cancelled/);
    const summary = JSON.parse(run.stdout) as { imported: number };
    assert.ok(summary.imported > 0 && summary.imported < 2527, `imported ${summary.imported}`);
    const db = new Database(big, { readonly: true });
    const jobs = db.prepare('SELECT status FROM jobs').all() as { status: string }[];
    const count = (db.prepare('SELECT COUNT(*) AS n FROM images').get() as { n: number }).n;
    db.close();
    assert.deepEqual(jobs, [{ status: 'cancelled' }]);
    assert.equal(count, summary.imported);
  });
});

describe('seedbed serve', () => {
  test('prints the address with its token and stops on Ctrl+C', async () => {
    const serveDir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-serve-test-'));
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--project', nodePath.join(serveDir, 'web.seedbed'), '--port', '0'], {
      cwd: ROOT,
      env: { ...env, SEEDBED_STATE_DIR: nodePath.join(serveDir, 'state') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no address printed:\n${output}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          output += d;
          const match = /Seedbed is running at (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(output);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
        child.on('exit', () => reject(new Error(`serve exited:\n${output}`)));
      });
      const withToken = await fetch(url, { redirect: 'manual' });
      assert.equal(withToken.status, 302);
      const without = await fetch(url.replace(/\?token=.*/, ''));
      assert.equal(without.status, 401);
      assert.ok(fs.existsSync(nodePath.join(serveDir, 'web.seedbed')), 'serve --project made the project');
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      fs.rmSync(serveDir, { recursive: true, force: true });
    }
  });
});

describe('TrashNet through the CLI', () => {
  const trashnet = nodePath.resolve(import.meta.dirname, '../../../../shared/data/trashnet');

  test('import --json gives exactly the class counts of ../shared/data/README.md, and info tells the truth about copies', { skip: !fs.existsSync(trashnet) && 'no ../shared/data/trashnet here' }, async (t) => {
    const own = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-cli-trashnet-'));
    t.after(() => fs.rmSync(own, { recursive: true, force: true }));
    const project = nodePath.join(own, 'trashnet.seedbed');
    const run = await seedbed(['import', trashnet, '--project', project, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as {
      imported: number;
      duplicates: number;
      skipped: unknown[];
      classes: Record<string, number>;
      conflicts: { path: string; folderClass: string; keptClass: string }[];
    };
    assert.deepEqual(result.classes, { cardboard: 403, glass: 501, metal: 410, paper: 594, plastic: 482, trash: 137 });
    assert.deepEqual(result.skipped, []);
    // Three files in metal/ and plastic/ are byte-identical to photos in glass/: one image each.
    assert.equal(result.imported, 2524);
    assert.equal(result.duplicates, 3);
    assert.deepEqual(
      result.conflicts.map((c) => [nodePath.relative(trashnet, c.path), c.folderClass, c.keptClass]).sort(),
      [
        [nodePath.join('metal', 'metal91.jpg'), 'metal', 'glass'],
        [nodePath.join('plastic', 'plastic152.jpg'), 'plastic', 'glass'],
        [nodePath.join('plastic', 'plastic332.jpg'), 'plastic', 'glass'],
      ],
    );
    const info = await seedbed(['info', '--project', project, '--json']);
    assert.equal(info.code, 0, info.stderr);
    const parsed = JSON.parse(info.stdout) as { images: number; classes: Record<string, { total: number }> };
    assert.equal(parsed.images, 2524);
    assert.deepEqual(
      Object.fromEntries(Object.entries(parsed.classes).map(([name, c]) => [name, c.total])),
      { cardboard: 403, glass: 501, metal: 409, paper: 594, plastic: 480, trash: 137 },
    );
  });
});

describe('seedbed train, predict and export', () => {
  const trashnet = nodePath.resolve(import.meta.dirname, '../../../../shared/data/trashnet');
  const models = nodePath.resolve(import.meta.dirname, '../../../../shared/models');
  const haveData = fs.existsSync(trashnet) && fs.existsSync(nodePath.join(models, 'mobilenet_v1_0.25_224'));
  const skip = haveData ? false : 'needs ../shared/data/trashnet and ../shared/models/mobilenet_v1_0.25_224';
  const own = nodePath.join(dir, 'learn');
  const project = nodePath.join(own, 'waste.seedbed');

  before(async () => {
    if (skip) return;
    env.SEEDBED_MODELS_DIR = models;
    for (const c of ['glass', 'metal', 'paper']) {
      fs.mkdirSync(nodePath.join(own, 'data', c), { recursive: true });
      fs.mkdirSync(nodePath.join(own, 'new'), { recursive: true });
      const files = fs.readdirSync(nodePath.join(trashnet, c)).filter((f) => f.endsWith('.jpg')).sort();
      for (const f of files.slice(0, 15)) fs.copyFileSync(nodePath.join(trashnet, c, f), nodePath.join(own, 'data', c, f));
      fs.copyFileSync(nodePath.join(trashnet, c, files[20]!), nodePath.join(own, 'new', `${c}-${files[20]}`));
    }
    fs.writeFileSync(nodePath.join(own, 'new', 'not-a-photo.jpg'), 'plain text');
    const imported = await seedbed(['import', nodePath.join(own, 'data'), '--project', project, '--json']);
    assert.equal(imported.code, 0, imported.stderr);
  });

  test('train --json prints exactly the documented shape, with test metrics on the created test split', { skip }, async () => {
    const run = await seedbed(['train', '--project', project, '--backbone', 'mobilenet_v1_0.25_224', '--epochs', '15', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as Record<string, unknown> & {
      seconds: Record<string, number>;
      metrics: { test: { accuracy: number; macroF1: number; perClass: Record<string, Record<string, number>>; confusion: number[][] } };
    };
    assert.deepEqual(Object.keys(out).sort(), ['backbone', 'backend', 'metrics', 'plan', 'runId', 'seconds', 'workers']);
    assert.equal(out.runId, 1);
    assert.equal(out.backbone, 'mobilenet_v1_0.25_224');
    assert.match(String(out.backend), /^wasm/);
    assert.equal(typeof out.workers, 'number');
    assert.deepEqual(Object.keys(out.seconds).sort(), ['embed', 'total', 'train']);
    const test = out.metrics.test;
    assert.deepEqual(Object.keys(test.perClass), ['glass', 'metal', 'paper']);
    assert.deepEqual(Object.keys(test.perClass.glass!).sort(), ['f1', 'precision', 'recall', 'support']);
    // 15 per class, stratified 70/15/15: 11 / 2 / 2.
    assert.equal(test.perClass.glass!.support, 2);
    assert.equal(test.confusion.length, 3);
    assert.ok(test.accuracy >= 0 && test.accuracy <= 1 && test.macroF1 >= 0, `metrics in range: ${test.accuracy}, ${test.macroF1}`);
  });

  test('train without --json names the backend, the workers, the augmentation and the test accuracy', { skip }, async () => {
    const run = await seedbed(['train', '--project', project, '--backbone', 'mobilenet_v1_0.25_224', '--epochs', '5', '--augment', 'natural', '--views', '1', '--balance', 'oversample+weights']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Run 2 trained on mobilenet_v1_0\.25_224 with TensorFlow\.js wasm \(SIMD\) on \d workers?/);
    assert.match(run.stdout, /Trained on \d+ examples: \d+ images, 1 augmented view of each \(natural\)\./);
    assert.match(run.stdout, /Rebalancing: .*Class weights are computed on the counts after oversampling\./);
    assert.match(run.stdout, /Accuracy \d+\.\d%, macro-F1/);
    assertNoStack(run.stdout + run.stderr);
  });

  test('predict FOLDER classifies each image and names an unreadable one', { skip }, async () => {
    const run = await seedbed(['predict', nodePath.join(own, 'new'), '--project', project, '--run', '1', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { runId: number; classes: string[]; rows: { path: string; className: string | null; confidence: number | null; error: string | null }[] };
    assert.equal(out.runId, 1);
    assert.equal(out.rows.length, 4);
    const broken = out.rows.find((r) => r.path.endsWith('not-a-photo.jpg'))!;
    assert.match(broken.error ?? '', /not-a-photo\.jpg/);
    for (const r of out.rows.filter((r) => r !== broken)) {
      assert.ok(r.className !== null && out.classes.includes(r.className) && r.confidence! > 0 && r.confidence! <= 1, `${r.path}: ${r.className} ${r.confidence}`);
    }
    const text = await seedbed(['predict', nodePath.join(own, 'new'), '--project', project]);
    assert.equal(text.code, 1, 'an unreadable file makes the exit status 1');
    assert.match(text.stdout, /4 images classified with run 2 \(TensorFlow\.js wasm/);
  });

  test('export writes the model, labels and metadata; bad arguments exit 2', { skip }, async () => {
    const out = nodePath.join(own, 'model');
    const run = await seedbed(['export', '--project', project, '--run', '1', '--out', out]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(fs.readdirSync(out).sort(), ['labels.json', 'metadata.json', 'model-card.html', 'model.json', 'weights.bin']);
    assert.deepEqual(JSON.parse(fs.readFileSync(nodePath.join(out, 'labels.json'), 'utf8')), ['glass', 'metal', 'paper']);
    const missing = await seedbed(['export', '--project', project, '--run', '99', '--out', out]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /There is no run 99 in this project\./);
    const bad = await seedbed(['train', '--project', project, '--epochs', 'many']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--epochs must be a whole number/);
    const strategy = await seedbed(['train', '--project', project, '--balance', 'sometimes']);
    assert.equal(strategy.code, 2);
    assert.match(strategy.stderr, /--balance must be one of none, oversample, undersample, weights, oversample\+weights, not "sometimes"/);
    const views = await seedbed(['train', '--project', project, '--views', '3']);
    assert.equal(views.code, 2);
    assert.match(views.stderr, /--views needs an augmentation: add --augment natural/);
    const policyFile = nodePath.join(own, 'policy.json');
    fs.writeFileSync(policyFile, JSON.stringify({ name: 'mine', ops: [{ op: 'sharpen', p: 0.5, strength: 0.5 }] }));
    const policy = await seedbed(['train', '--project', project, '--augment', policyFile]);
    assert.equal(policy.code, 1);
    assert.match(policy.stderr, /The augmentation policy in .*policy\.json does not work: ops\.0\.op: Unknown augmentation "sharpen"/);
    const missingPolicy = await seedbed(['train', '--project', project, '--augment', nodePath.join(own, 'nope.json')]);
    assert.equal(missingPolicy.code, 1);
    assert.match(missingPolicy.stderr, /cannot use the augmentation policy .*nope\.json: there is no such file/);
    const clip = await seedbed(['train', '--project', project, '--clip-norm', '-1']);
    assert.equal(clip.code, 2);
    assert.match(clip.stderr, /--clip-norm must be a number, 0 or more/);
    const settings = nodePath.join(own, 'settings.json');
    fs.writeFileSync(settings, JSON.stringify({ learningRate: 0.003, dropuot: 0.3 }));
    const badSettings = await seedbed(['train', '--project', project, '--config', settings]);
    assert.equal(badSettings.code, 1);
    assert.match(badSettings.stderr, /The training settings in .*settings\.json do not work: .*dropuot/);
  });

  test('tune --json searches on validation only, --save writes settings train --config accepts, --train trains them; wrong budgets exit 2', { skip }, async () => {
    const saved = nodePath.join(own, 'best.json');
    const run = await seedbed(['tune', '--project', project, '--backbone', 'mobilenet_v1_0.25_224', '--trials', '4', '--seed', '3', '--save', saved, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as {
      searchId: number;
      status: string;
      trials: { trial: number; state: string; epochs: number; score: number | null; values: Record<string, string> }[];
      best: { trial: number; score: number };
      bestConfig: Record<string, unknown>;
      runId: number | null;
    };
    assert.deepEqual(Object.keys(out).sort(), ['baseline', 'best', 'bestConfig', 'runId', 'searchId', 'seconds', 'status', 'trials']);
    assert.equal(out.status, 'done');
    assert.equal(out.trials.length, 4, 'four trials');
    assert.equal(out.trials[0]!.values.learningRate, '0.001', 'the first trial is the default settings');
    assert.ok(out.trials.every((t) => t.score === null || (t.score >= 0 && t.score <= 1)), 'scores are validation macro-F1 values');
    assert.equal(out.runId, null, 'no run without --train');
    const written = JSON.parse(fs.readFileSync(saved, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(written, out.bestConfig, '--save writes the best settings');
    const trained = await seedbed(['train', '--project', project, '--config', saved, '--epochs', '3', '--json']);
    assert.equal(trained.code, 0, `train --config takes the saved settings: ${trained.stderr}`);

    const text = await seedbed(['tune', '--project', project, '--resume', String(out.searchId)]);
    assert.equal(text.code, 1, 'a finished search cannot be resumed');
    assert.match(text.stderr, /has finished: its budget is spent/);
    const both = await seedbed(['tune', '--project', project, '--trials', '3', '--minutes', '2']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /Give --trials or --minutes, not both/);
    const resumeAndSeed = await seedbed(['tune', '--project', project, '--resume', '1', '--seed', '2']);
    assert.equal(resumeAndSeed.code, 2);
    assert.match(resumeAndSeed.stderr, /--resume goes on with a search as it was started/);
    const small = await seedbed(['tune', '--project', project, '--backbone', 'mobilenet_v1_0.25_224', '--trials', '2', '--train']);
    assert.equal(small.code, 0, small.stderr);
    assert.match(small.stdout, /Search 2: 2 trials in .*, judged on \d+ validation images/);
    assert.match(small.stdout, /Best: trial \d, validation macro-F1 \d+\.\d% after 21 epochs/);
    assert.match(small.stdout, /Trained run \d+ with them/);
    assertNoStack(small.stdout + small.stderr);
  });
});

describe('seedbed doctor', () => {
  const models = nodePath.resolve(import.meta.dirname, '../../../../shared/models');
  const haveModels = fs.existsSync(models);
  const own = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-doctor-test-'));
  const emptyModels = nodePath.join(own, 'no-models');
  fs.mkdirSync(emptyModels);
  after(() => fs.rmSync(own, { recursive: true, force: true }));

  /** A fresh state folder (no models folder chosen, nothing downloaded), and only the variables given. */
  function doctorEnv(vars: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    const out: NodeJS.ProcessEnv = { ...env, SEEDBED_STATE_DIR: nodePath.join(own, 'state') };
    delete out.SEEDBED_BACKEND;
    delete out.SEEDBED_MODELS_DIR;
    return { ...out, ...vars };
  }

  async function doctorJson(vars: NodeJS.ProcessEnv): Promise<{ run: Run; report: DoctorReport }> {
    const run = await seedbed(['doctor', '--json'], { env: doctorEnv(vars) });
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `one JSON object expected, got:\n${run.stdout}\n${run.stderr}`);
    return { run, report: JSON.parse(lines[0]!) as DoctorReport };
  }

  test('doctor --json checks every engine in the runtime\'s order: wasm with SIMD, why webgpu cannot run; without a backbone it exits 1 with the fix', async () => {
    const { run, report } = await doctorJson({ SEEDBED_MODELS_DIR: emptyModels });
    assert.deepEqual(Object.keys(report), ['backends', 'automaticChoice', 'seedbedBackend', 'uses', 'models', 'problems', 'ready']);
    assert.deepEqual(report.backends.map((b) => b.name), [...BACKENDS]);
    const byName = Object.fromEntries(report.backends.map((b) => [b.name, b]));
    const wasm = byName.wasm!;
    assert.ok(wasm.usable && wasm.automatic, `wasm runs here: ${JSON.stringify(wasm)}`);
    assert.equal(wasm.simd, true, 'wasm has SIMD on Node 20');
    assert.equal(byName.cpu!.usable, true);
    const webgpu = byName.webgpu!;
    if (webgpu.usable) {
      // A machine with a GPU (or started with a software adapter's environment).
      assert.ok(webgpu.adapter && webgpu.adapter.name.length > 0, `the adapter is named: ${JSON.stringify(webgpu)}`);
      assert.equal(webgpu.automatic, !webgpu.adapter.software, 'a software adapter is never chosen automatically');
    } else {
      assert.match(webgpu.reason ?? '', /Vulkan loader|no GPU adapter/);
      assert.ok((webgpu.fix ?? '').length > 10, `webgpu's fix: ${webgpu.fix}`);
      assert.equal(webgpu.adapter, null);
    }
    for (const name of ['tensorflow-gpu', 'tensorflow'] as const) {
      const native = byName[name]!;
      if (!native.usable) {
        assert.match(native.reason ?? '', /is not installed|does not load/);
        assert.match(native.fix ?? '', /npm install|CUDA/);
      }
    }
    const first = report.backends.find((b) => b.usable && b.automatic)!.name;
    assert.equal(report.automaticChoice, first);
    assert.equal(report.uses, first, 'without SEEDBED_BACKEND the studio uses the first usable engine');
    assert.equal(report.seedbedBackend, null);
    assert.deepEqual(report.models.lookIn.map((p) => p.source), ['folder', 'cache', 'env']);
    assert.deepEqual(report.models.lookIn[2], { source: 'env', path: emptyModels, exists: true });
    assert.deepEqual(report.models.found, []);
    assert.equal(report.problems.length, 1, JSON.stringify(report.problems));
    assert.match(report.problems[0]!.problem, /No pretrained network/);
    assert.match(report.problems[0]!.fix, /SEEDBED_MODELS_DIR/);
    assert.equal(report.ready, false);
    assert.equal(run.code, 1, 'nothing to train with: exit 1');
  });

  test('doctor lists the backbones found in SEEDBED_MODELS_DIR and ends with "Everything Seedbed needs is here."', { skip: !haveModels && 'no ../shared/models here' }, async () => {
    const expected = fs.readdirSync(models).filter((d) => fs.existsSync(nodePath.join(models, d, 'model.json'))).sort();
    assert.ok(expected.length > 0, `${models} holds backbones`);
    const { run, report } = await doctorJson({ SEEDBED_MODELS_DIR: models });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(report.models.found.map((f) => f.id).sort(), expected);
    for (const f of report.models.found) {
      assert.equal(f.source, 'env', `${f.id} comes from SEEDBED_MODELS_DIR`);
      assert.equal(f.dir, nodePath.join(models, f.id));
    }
    assert.equal(report.models.found.filter((f) => f.isDefault).length, 1, 'one default backbone');
    assert.ok(report.models.missing.every((m) => !expected.includes(m.id)), 'missing lists only what is not there');
    assert.deepEqual(report.problems, []);
    assert.equal(report.ready, true);

    const text = await seedbed(['doctor'], { env: doctorEnv({ SEEDBED_MODELS_DIR: models }) });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ {2}wasm\s+usable\s+the CPU, through WebAssembly$/m);
    assert.match(text.stdout, new RegExp(`Seedbed will use ${report.uses}`));
    for (const id of expected) assert.ok(text.stdout.includes(nodePath.join(models, id)), `${id} is listed with its folder`);
    assert.equal(text.stdout.trim().split('\n').at(-1), 'Everything Seedbed needs is here.');
    assertNoStack(text.stdout + text.stderr);
  });

  test('doctor with SEEDBED_BACKEND=nonsense says it is invalid, names the valid engines and exits 1', async () => {
    const vars = { SEEDBED_BACKEND: 'nonsense', SEEDBED_MODELS_DIR: haveModels ? models : emptyModels };
    const { run, report } = await doctorJson(vars);
    assert.equal(run.code, 1, 'training would fail: exit 1');
    assert.deepEqual(report.seedbedBackend, { value: 'nonsense', valid: false });
    assert.equal(report.uses, null);
    assert.ok(report.automaticChoice !== null, 'what Seedbed would choose without it is still reported');
    const problem = report.problems.find((p) => p.problem.includes('SEEDBED_BACKEND'));
    assert.match(problem?.problem ?? '', /SEEDBED_BACKEND is "nonsense", which is not an engine Seedbed knows/);
    for (const name of BACKENDS) assert.ok(problem!.fix.includes(name), `the fix names ${name}: ${problem!.fix}`);

    const text = await seedbed(['doctor'], { env: doctorEnv(vars) });
    assert.equal(text.code, 1);
    assert.match(text.stdout, /SEEDBED_BACKEND is "nonsense", which is not an engine Seedbed knows/);
    assert.match(text.stdout, /To fix before Seedbed can train here/);
    assertNoStack(text.stdout + text.stderr);
  });

  const software = softwareGpuEnv();
  test('doctor on a software GPU: webgpu works but is used only when SEEDBED_BACKEND=webgpu asks', { skip: !software && 'no SwiftShader (Debian\'s chromium) here' }, async () => {
    const { report } = await doctorJson({ ...software, SEEDBED_MODELS_DIR: emptyModels });
    const webgpu = report.backends.find((b) => b.name === 'webgpu')!;
    assert.equal(webgpu.usable, true, JSON.stringify(webgpu));
    assert.equal(webgpu.automatic, false, 'a software adapter is not chosen automatically');
    assert.equal(webgpu.adapter?.software, true);
    assert.ok((webgpu.adapter?.maxStorageBufferBindingMiB ?? 0) > 0, `binding limit: ${JSON.stringify(webgpu.adapter)}`);
    assert.match(webgpu.reason ?? '', /software adapter/);
    assert.notEqual(report.uses, 'webgpu');

    const forced = await doctorJson({ ...software, SEEDBED_MODELS_DIR: emptyModels, SEEDBED_BACKEND: 'webgpu' });
    assert.equal(forced.report.uses, 'webgpu');
    assert.deepEqual(forced.report.seedbedBackend, { value: 'webgpu', valid: true });
    assert.ok(!forced.report.problems.some((p) => p.problem.includes('SEEDBED_BACKEND')), JSON.stringify(forced.report.problems));
  });

  test('doctor --help says what the exit statuses mean', async () => {
    const run = await seedbed(['doctor', '--help']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Usage: seedbed doctor \[--json\]/);
    assert.match(run.stdout, /exits with 0 when\s+Seedbed can train here/);
    assert.match(run.stdout, /Examples:/);
    const general = await seedbed(['--help']);
    assert.match(general.stdout, /^ {2}doctor\s/m);
  });
});
