// The `seedbed` command. bin/seedbed.mjs imports the bundled copy (dist/main/cli.js);
// during development it also runs from source: `node --import tsx main/hosts/cli/main.ts`.
import fs from 'node:fs';
import nodePath from 'node:path';
import { format } from 'node:util';
import { defaultStateDir } from '../app-paths.ts';
import { runCli } from './cli.ts';

const argv = process.argv.slice(2);

// The core logs unexpected errors with their stack; on a terminal a person should see one
// sentence, so for one-shot commands the log goes to a file (`serve` is a server: its
// terminal is its log). SEEDBED_DEBUG=1 keeps everything on stderr.
if (argv[0] !== 'serve' && !process.env.SEEDBED_DEBUG) {
  const logFile = nodePath.join(defaultStateDir(), 'seedbed-cli.log');
  console.error = (...args: unknown[]) => {
    try {
      fs.mkdirSync(nodePath.dirname(logFile), { recursive: true });
      fs.appendFileSync(logFile, `${new Date().toISOString()} ${format(...args)}\n`);
    } catch {
      // Nowhere to log: the user still gets the command's own message.
    }
  };
}

process.exit(await runCli(argv));
