import fs from 'node:fs';
import nodePath from 'node:path';
import { appVersion, defaultStateDir } from '../app-paths.ts';
import { commandHelp, parseArgs, table, UsageError, type CommandSpec, type ParsedArgs } from './args.ts';
import { COMMANDS } from './commands.ts';
import { runImport } from './import-command.ts';
import { runInfo } from './info-command.ts';
import { runClean } from './clean-command.ts';
import { runDoctor } from './doctor-command.ts';
import { runExport, runPredict, runTrain } from './ml-commands.ts';
import { runServe } from './serve-command.ts';
import { runEvaluate, runReport } from './eval-command.ts';
import { runTune } from './tune-command.ts';
import { CliFailure, writeFully } from './session.ts';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const RUNNERS: Record<string, (args: ParsedArgs) => Promise<number>> = {
  import: runImport,
  info: runInfo,
  clean: runClean,
  train: runTrain,
  tune: runTune,
  predict: runPredict,
  evaluate: runEvaluate,
  report: runReport,
  export: runExport,
  serve: runServe,
  doctor: runDoctor,
};

export function generalHelp(): string {
  return [
    'Seedbed: label a folder of images, clean it and train an image classifier on your own computer.',
    '',
    'Usage: seedbed COMMAND [options]',
    '',
    'Commands:',
    ...table(COMMANDS.map((c): [string, string] => [c.name, c.summary])),
    '',
    'Run `seedbed COMMAND --help` to learn more about a command, for example `seedbed import --help`.',
    'To use the studio itself, run `npm start` (desktop app) or `seedbed serve` (in your browser).',
    '',
  ].join('\n');
}

/** Runs one command line; resolves with the process exit status. Never throws. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      await writeFully(process.stderr, generalHelp());
      return EXIT_USAGE;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
      await writeFully(process.stdout, topic ? commandHelp(topic) : generalHelp());
      return EXIT_OK;
    }
    if (name === '--version' || name === '-v') {
      await writeFully(process.stdout, `${appVersion()}\n`);
      return EXIT_OK;
    }
    const spec: CommandSpec | undefined = COMMANDS.find((c) => c.name === name);
    if (!spec) {
      throw new UsageError(
        name.startsWith('-')
          ? `Seedbed needs a command first (${COMMANDS.map((c) => c.name).join(', ')}), before ${name}.`
          : `Seedbed has no command "${name}"; the commands are ${COMMANDS.map((c) => c.name).join(', ')}.`,
      );
    }
    const args = parseArgs(spec, rest);
    if (args.help) {
      await writeFully(process.stdout, commandHelp(spec));
      return EXIT_OK;
    }
    return await RUNNERS[spec.name]!(args);
  } catch (err) {
    if (err instanceof UsageError) {
      const hint = err.command ? `seedbed ${err.command} --help` : 'seedbed --help';
      await writeFully(process.stderr, `${err.message} See \`${hint}\`.\n`);
      return EXIT_USAGE;
    }
    if (err instanceof CliFailure) {
      await writeFully(process.stderr, `${err.message}\n`);
      return err.exitCode;
    }
    const logFile = logUnexpected(err);
    await writeFully(
      process.stderr,
      `Seedbed stopped because of an unexpected problem (${(err as Error)?.message ?? String(err)})${logFile ? `; the details are in ${logFile}` : ''}.\n`,
    );
    return EXIT_FAILED;
  }
}

/** Keeps the stack of an unexpected error out of the user's way, in the app's log file. */
function logUnexpected(err: unknown): string | null {
  try {
    const file = nodePath.join(defaultStateDir(), 'seedbed-cli.log');
    fs.mkdirSync(nodePath.dirname(file), { recursive: true });
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    fs.appendFileSync(file, `${new Date().toISOString()} ${text}\n`);
    return file;
  } catch {
    return null;
  }
}
