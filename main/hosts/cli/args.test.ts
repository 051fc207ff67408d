import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandHelp, parseArgs, UsageError, usageLine } from './args.ts';
import { importCommand, infoCommand, serveCommand } from './commands.ts';

test('reads positionals, --name value, --name=value and flags in any order', () => {
  const parsed = parseArgs(importCommand, ['a', '--project', 'p.seedbed', 'b', '--split=train', '--json', '--', '--odd-folder']);
  assert.deepEqual(parsed.positionals, ['a', 'b', '--odd-folder']);
  assert.deepEqual(parsed.values, { project: 'p.seedbed', split: 'train' });
  assert.deepEqual([...parsed.flags], ['json']);
  assert.equal(parsed.help, false);
});

test('--help anywhere wins over missing required options', () => {
  assert.equal(parseArgs(importCommand, ['--help']).help, true);
  assert.equal(parseArgs(infoCommand, ['-h']).help, true);
});

test('refuses what cannot be run, naming the option', () => {
  const cases: [readonly string[], RegExp][] = [
    [['x'], /needs --project FILE/],
    [['x', '--project'], /--project needs a value/],
    [['x', '--project', '--json'], /--project needs a value/],
    [['x', '--project='], /--project needs a value/],
    [['x', '--project', 'a', '--project', 'b'], /given twice/],
    [['x', '--project', 'a', '--split', 'later'], /one of auto, train, val, test or none/],
    [['x', '--project', 'a', '--json=yes'], /takes no value/],
    [['x', '--project', 'a', '--verbose'], /no option --verbose/],
    [['x', '--project', 'a', '-v'], /two dashes/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseArgs(importCommand, args), (err: unknown) => err instanceof UsageError && message.test(err.message), args.join(' '));
  }
  assert.throws(() => parseArgs(infoCommand, ['--project', 'a', 'stray']), /takes no "stray" argument/);
});

test('usage lines show required and optional parts', () => {
  assert.equal(usageLine(infoCommand), 'seedbed info --project FILE [--json]');
  assert.equal(usageLine(serveCommand), 'seedbed serve [--project FILE] [--port N] [--host HOST]');
  assert.match(usageLine(importCommand), /^seedbed import \[FOLDER\.\.\.\] --project FILE \[--split auto\|train\|val\|test\|none\]/);
});

test('help text stays within 80 columns', () => {
  for (const spec of [importCommand, infoCommand, serveCommand]) {
    const lines = commandHelp(spec).split('\n').slice(1); // the usage line may be long
    const wide = lines.filter((l) => l.length > 80);
    assert.deepEqual(wide, [], spec.name);
  }
});
