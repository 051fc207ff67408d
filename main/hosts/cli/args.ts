/** A command's options and positionals, enough to parse a command line and write its help. */
export interface OptionSpec {
  /** Long name without dashes: `project` for `--project`. */
  name: string;
  /** Placeholder for the value (`FILE`); absent for on/off flags. */
  value?: string;
  /** The only values accepted, when there is a fixed set. */
  choices?: readonly string[];
  /** One or two sentences for the help text. */
  help: string;
  required?: boolean;
}

export interface CommandSpec {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Positional arguments, e.g. `FOLDER...`; `many` takes one or more. */
  positional?: { name: string; many: boolean; required: boolean; help: string };
  options: OptionSpec[];
  /** Paragraphs explaining the command to someone new to it. */
  description: string[];
  examples: { command: string; explains: string }[];
}

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string>;
  flags: Set<string>;
  help: boolean;
}

/** A command line that cannot be run as written; the message says what to change. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Parses `args` against a command: `--name value`, `--name=value`, flags, `--` to end
 * options, `-h`/`--help` anywhere. Unknown options and missing values are usage errors.
 */
export function parseArgs(spec: CommandSpec, args: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = { positionals: [], values: {}, flags: new Set(), help: false };
  const byName = new Map(spec.options.map((o) => [o.name, o]));
  let optionsEnded = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (optionsEnded || !arg.startsWith('-') || arg === '-') {
      parsed.positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      optionsEnded = true;
      continue;
    }
    if (arg === '-h' || arg === '--help') {
      parsed.help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      throw new UsageError(`Seedbed does not know the option ${arg}; options are written with two dashes, like --project.`, spec.name);
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const option = byName.get(name);
    if (!option) {
      throw new UsageError(`\`seedbed ${spec.name}\` has no option --${name}.`, spec.name);
    }
    if (!option.value) {
      if (eq !== -1) throw new UsageError(`--${name} is an on/off switch and takes no value.`, spec.name);
      parsed.flags.add(name);
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = args[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) {
        throw new UsageError(`--${name} needs a value: --${name} ${option.value}.`, spec.name);
      }
      i++;
    }
    if (value === '') throw new UsageError(`--${name} needs a value: --${name} ${option.value}.`, spec.name);
    if (option.choices && !option.choices.includes(value)) {
      throw new UsageError(
        `--${name} must be one of ${formatList(option.choices)}, not "${value}".`,
        spec.name,
      );
    }
    if (name in parsed.values) throw new UsageError(`--${name} is given twice; give it once.`, spec.name);
    parsed.values[name] = value;
  }
  if (parsed.help) return parsed;
  for (const option of spec.options) {
    if (option.required && !(option.name in parsed.values)) {
      throw new UsageError(`\`seedbed ${spec.name}\` needs --${option.name} ${option.value ?? ''}`.trimEnd() + '.', spec.name);
    }
  }
  const positional = spec.positional;
  if (!positional && parsed.positionals.length > 0) {
    throw new UsageError(`\`seedbed ${spec.name}\` takes no ${quote(parsed.positionals[0]!)} argument.`, spec.name);
  }
  if (positional && !positional.many && parsed.positionals.length > 1) {
    throw new UsageError(`\`seedbed ${spec.name}\` takes one ${positional.name}, not ${parsed.positionals.length}.`, spec.name);
  }
  if (positional?.required && parsed.positionals.length === 0) {
    throw new UsageError(`\`seedbed ${spec.name}\` needs a ${positional.name}.`, spec.name);
  }
  return parsed;
}

function quote(text: string): string {
  return `"${text}"`;
}

function formatList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/** The usage line: `seedbed import FOLDER... --project FILE [--split …]`. */
export function usageLine(spec: CommandSpec): string {
  const parts = ['seedbed', spec.name];
  const pos = spec.positional;
  if (pos) {
    const text = pos.many ? `${pos.name}...` : pos.name;
    parts.push(pos.required ? text : `[${text}]`);
  }
  for (const o of spec.options) {
    const value = o.choices ? o.choices.join('|') : o.value;
    const text = value ? `--${o.name} ${value}` : `--${o.name}`;
    parts.push(o.required ? text : `[${text}]`);
  }
  return parts.join(' ');
}

/** Help for one command: usage, what it does, its options, examples. */
export function commandHelp(spec: CommandSpec): string {
  const lines = [`Usage: ${usageLine(spec)}`, '', ...wrapParagraphs(spec.description), ''];
  const rows: [string, string][] = [];
  if (spec.positional) rows.push([spec.positional.many ? `${spec.positional.name}...` : spec.positional.name, spec.positional.help]);
  for (const o of spec.options) rows.push([o.value ? `--${o.name} ${o.value}` : `--${o.name}`, o.help]);
  rows.push(['--help', 'Show this help.']);
  lines.push('Options:', ...table(rows), '');
  if (spec.examples.length) {
    lines.push('Examples:');
    for (const e of spec.examples) lines.push(`  ${e.command}`, ...wrap(e.explains, 72).map((l) => `      ${l}`));
    lines.push('');
  }
  return lines.join('\n');
}

/** Two columns, the second wrapped to the terminal's usual width. */
export function table(rows: [string, string][], indent = 2): string[] {
  const width = Math.min(24, Math.max(...rows.map(([left]) => left.length)) + 2);
  const out: string[] = [];
  for (const [left, right] of rows) {
    const wrapped = wrap(right, 78 - indent - width);
    const pad = ' '.repeat(indent);
    if (left.length + 2 > width) {
      out.push(pad + left);
      for (const line of wrapped) out.push(pad + ' '.repeat(width) + line);
    } else {
      out.push(pad + left.padEnd(width) + (wrapped[0] ?? ''));
      for (const line of wrapped.slice(1)) out.push(pad + ' '.repeat(width) + line);
    }
  }
  return out;
}

function wrapParagraphs(paragraphs: string[]): string[] {
  const out: string[] = [];
  paragraphs.forEach((p, i) => {
    if (i > 0) out.push('');
    out.push(...wrap(p, 78));
  });
  return out;
}

/** Greedy word wrap. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}
