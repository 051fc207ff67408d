#!/usr/bin/env node
// `npm test`: builds, runs every unit/integration test (node:test under tsx), then the
// Playwright end-to-end suite, and ends with one line: "tests: N passed, N failed, N skipped".
//   node scripts/test.mjs [--unit] [--e2e] [-- extra args for the runner]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const only = new Set(args.filter((a) => a === '--unit' || a === '--e2e'));
const runUnit = only.size === 0 || only.has('--unit');
const runE2e = only.size === 0 || only.has('--e2e');

function run(cmd, cmdArgs, env = {}) {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(cmd, cmdArgs, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { out += d; process.stderr.write(d); });
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out }));
  });
}

function findTests(dir, found = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) findTests(full, found);
    else if (entry.name.endsWith('.test.ts')) found.push(path.relative(root, full));
  }
  return found;
}

const totals = { passed: 0, failed: 0, skipped: 0 };
let failedStep = null;

const build = await run(process.execPath, ['scripts/build.mjs']);
if (build.code !== 0) {
  console.error('\nThe build failed; no tests ran.');
  console.log('tests: 0 passed, 1 failed');
  process.exit(1);
}

if (runUnit) {
  console.log('\n== typecheck ==');
  const typecheck = await run('npm', ['run', '--silent', 'typecheck']);
  if (typecheck.code !== 0) {
    failedStep = 'typecheck';
    totals.failed += 1;
  } else {
    console.log('typecheck: clean');
  }
  const files = [...findTests(path.join(root, 'shared')), ...findTests(path.join(root, 'main'))].sort();
  console.log(`\n== unit and integration tests (${files.length} files) ==`);
  const unit = await run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files]);
  const count = (label) => Number(new RegExp(`^ℹ ${label} (\\d+)`, 'm').exec(unit.out)?.[1] ?? 0);
  totals.passed += count('pass');
  totals.failed += count('fail') + count('cancelled');
  totals.skipped += count('skipped') + count('todo');
  if (unit.code !== 0) {
    failedStep = 'unit tests';
    if (count('fail') + count('cancelled') === 0) totals.failed += 1;
  }
}

if (runE2e) {
  console.log('\n== end-to-end tests (Playwright) ==');
  if (!['/usr/bin/chromium', '/usr/bin/chromium-browser', process.env.SEEDBED_CHROMIUM].some((p) => p && fs.existsSync(p))) {
    console.error('Chromium is not installed: install it (Debian: `apt-get install -y chromium`) or set SEEDBED_CHROMIUM to a Chromium binary.');
    totals.failed += 1;
    failedStep ??= 'end-to-end tests';
  } else {
    const report = path.join(root, 'test-results', 'e2e-report.json');
    fs.mkdirSync(path.dirname(report), { recursive: true });
    const e2e = await run(process.execPath, [path.join(root, 'node_modules/@playwright/test/cli.js'), 'test', '--reporter=list,json'], {
      PLAYWRIGHT_JSON_OUTPUT_NAME: report,
    });
    try {
      const json = JSON.parse(fs.readFileSync(report, 'utf8'));
      const stats = json.stats;
      // Say why tests were skipped (e.g. the electron project where no Electron binary exists).
      const reasons = new Map();
      const visit = (suite) => {
        for (const spec of suite.specs ?? []) {
          for (const t of spec.tests ?? []) {
            for (const a of t.annotations ?? []) {
              if (a.type === 'skip') {
                const key = `${t.projectName}: ${a.description ?? 'skipped'}`;
                reasons.set(key, (reasons.get(key) ?? 0) + 1);
              }
            }
          }
        }
        for (const child of suite.suites ?? []) visit(child);
      };
      for (const suite of json.suites ?? []) visit(suite);
      for (const [reason, n] of reasons) console.log(`skipped ${n} (${reason})`);
      totals.passed += stats.expected + stats.flaky;
      totals.failed += stats.unexpected;
      totals.skipped += stats.skipped;
    } catch {
      totals.failed += 1;
    }
    if (e2e.code !== 0) failedStep ??= 'end-to-end tests';
  }
}

console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
if (failedStep) console.error(`Failing step: ${failedStep}.`);
process.exit(failedStep || totals.failed ? 1 : 0);
