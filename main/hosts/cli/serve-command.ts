import os from 'node:os';
import { rendererDir } from '../app-paths.ts';
import { isLoopback, isWildcard } from '../server/access.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import { UsageError, type ParsedArgs } from './args.ts';
import { serveCommand } from './commands.ts';
import { CliFailure, createCore, openProject, writeFully } from './session.ts';

export async function runServe(args: ParsedArgs): Promise<number> {
  const port = parsePort(args.values.port);
  const host = args.values.host ?? '127.0.0.1';
  const core = await createCore('web');
  let server: RunningServer | null = null;
  try {
    if (args.values.project !== undefined) await openProject(core, args.values.project, true);
    try {
      server = await startServer({ core, rendererDir: rendererDir(), host, port });
    } catch (err) {
      throw new CliFailure(listenProblem(err, host, port));
    }
    if (!isLoopback(host)) {
      await writeFully(
        process.stderr,
        `Warning: Seedbed is listening on ${host}, so other computers on the network can reach it; only people with the address below (it carries a secret token) can use it, and the connection is not encrypted.\n`,
      );
    }
    const lines = [`Seedbed is running at ${server.url}`];
    if (isWildcard(host)) {
      for (const address of networkAddresses()) lines.push(`From another computer: http://${address}:${server.port}/?token=${server.token}`);
    }
    lines.push('Open that address in your browser. Press Ctrl+C to stop.');
    await writeFully(process.stdout, `${lines.join('\n')}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    return 0;
  } finally {
    await server?.close();
    await core.close();
  }
}

/** This machine's IPv4 addresses on its networks (not loopback). */
function networkAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((i) => i.family === 'IPv4' && !i.internal)
    .map((i) => i.address);
}

function parsePort(value: string | undefined): number {
  if (value === undefined) return 0;
  const port = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(port) || port > 65535) {
    throw new UsageError(`--port must be a whole number from 0 to 65535, not "${value}".`, serveCommand.name);
  }
  return port;
}

function listenProblem(err: unknown, host: string, port: number): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return `Port ${port} is already in use; choose another with --port, or leave --port out to get a free one.`;
  if (code === 'EACCES') return `Seedbed may not listen on port ${port} (ports below 1024 need administrator rights); choose another with --port.`;
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return `This computer has no network address "${host}"; leave --host out to use 127.0.0.1.`;
  }
  return `Seedbed could not start its web server on ${host}:${port}: ${(err as Error).message}.`;
}
