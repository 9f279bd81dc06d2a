/**
 * The shape of a CLI command and the one argument parser. Options are declared once — type,
 * default, help — and the help text, the parsing and the typed values all derive from that table.
 */
import { parseArgs } from 'node:util';
import { MissingOptionError, OptionError, PoisonguardError } from '../errors.js';
import { OutputPathError } from '../outputs.js';
import { checkSeed, MAX_SEED } from '../random.js';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** One-line help. */
  readonly help: string;
  readonly short?: string;
  /** Default shown in the help and used when the option is absent. */
  readonly default?: string | boolean;
  /** Placeholder in the help, e.g. 'DIR'. */
  readonly value?: string;
  /** The command cannot run without it: parsing refuses its absence (unless --help), and its value is typed as given. */
  readonly required?: boolean;
  /** A string option that may be given several times: its value is the list, in the order given. */
  readonly multiple?: boolean;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

export type ParsedValues<T extends OptionTable> = {
  [K in keyof T]: T[K]['type'] extends 'boolean'
    ? boolean
    : T[K] extends { multiple: true }
      ? string[] | undefined
      : T[K] extends { default: string } | { required: true }
        ? string
        : string | undefined;
};

export interface CommandContext {
  /** Writes a line for the user (stdout). */
  readonly out: (line: string) => void;
  /** Writes a diagnostic line (stderr). */
  readonly err: (line: string) => void;
  /** Whether progress bars may be drawn (stderr is a terminal and not --quiet). */
  readonly interactive: boolean;
  /** --quiet: no progress at all, neither bars nor the log lines written instead of them. */
  readonly quiet?: boolean;
}

export interface Command<T extends OptionTable = OptionTable> {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Positional arguments, e.g. 'RUN_DIR'. */
  readonly positionals?: string;
  /** Extra paragraphs of help (examples, what is written). */
  readonly description?: string;
  readonly options: T;
  run(values: ParsedValues<T>, positionals: string[], ctx: CommandContext): Promise<number>;
}

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h', help: 'Show this help.' },
  debug: { type: 'boolean', help: 'Print stack traces of errors.' },
  quiet: { type: 'boolean', short: 'q', help: 'No progress output (bars, or the progress lines written when stderr is not a terminal); results and warnings still print.' },
} as const satisfies OptionTable;

/** Parses argv against a command's option table; a pure function (throws OptionError). */
export function parseCommandArgs<T extends OptionTable>(
  command: Command<T>,
  argv: readonly string[],
): { values: ParsedValues<T> & { help: boolean; debug: boolean; quiet: boolean }; positionals: string[] } {
  const table: OptionTable = { ...COMMON_OPTIONS, ...command.options };
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(table)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = (e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '');
    throw new PoisonguardError('invalid-option', `${command.name}: ${msg} (see 'poisonguard ${command.name} --help').`);
  }
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    const v = (parsed.values as Record<string, unknown>)[name];
    values[name] = v ?? spec.default ?? (spec.type === 'boolean' ? false : undefined);
  }
  if (!values.help) {
    for (const [name, spec] of Object.entries(table)) {
      if (spec.required && values[name] === undefined) throw new MissingOptionError(`--${name}`, lowerFirst(spec.help));
    }
  }
  if (!command.positionals && parsed.positionals.length > 0 && !values.help) {
    throw new PoisonguardError('invalid-option', `${command.name}: unexpected argument '${parsed.positionals[0]}'.`);
  }
  return { values: values as ParsedValues<T> & { help: boolean; debug: boolean; quiet: boolean }, positionals: parsed.positionals };
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1).replace(/\.$/, '');
}

/** The help text of a command, derived from its option table. */
export function commandHelp(command: Command): string {
  const table = { ...command.options, ...COMMON_OPTIONS } as OptionTable;
  const lines = [`Usage: poisonguard ${command.name} [options]${command.positionals ? ` ${command.positionals}` : ''}`, '', command.summary, ''];
  if (command.description) lines.push(command.description.trim(), '');
  lines.push('Options:');
  const rows = Object.entries(table).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}${spec.multiple ? ' …' : ''}`;
    const def = spec.required ? ' (required)' : spec.default !== undefined && spec.default !== false ? ` (default: ${spec.default})` : '';
    return [flag, `${spec.help}${def}`] as const;
  });
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  for (const [flag, help] of rows) lines.push(`  ${flag.padEnd(width)}${help}`);
  return lines.join('\n');
}

/** Parses a number option, naming it in the error. */
export function numberOption(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new OptionError(`--${name}`, 'a number', raw);
  return v;
}

/** Parses an integer option, naming it in the error. */
export function intOption(name: string, raw: string | undefined): number | undefined {
  const v = numberOption(name, raw);
  if (v !== undefined && !Number.isInteger(v)) throw new OptionError(`--${name}`, 'an integer', raw);
  return v;
}

/** Parses a seed option: an integer the generator represents exactly (see {@link checkSeed}). */
export function seedOption(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  // Digits are checked as text, and the text is what the error shows: beyond 2^53 a number has already lost some.
  const value = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!(value <= MAX_SEED)) throw new OptionError(`--${name}`, `an integer in [0, ${MAX_SEED}] (the generator's 32-bit seeds)`, raw);
  return checkSeed(`--${name}`, value);
}

/** Parses a comma-separated list of numbers ("0,0.01,0.05"). */
export function numberListOption(name: string, raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  return raw.split(',').map((s) => {
    const v = Number(s);
    if (s.trim() === '' || !Number.isFinite(v)) throw new OptionError(`--${name}`, 'a comma-separated list of numbers', raw);
    return v;
  });
}

/** Parses a comma-separated list of integers ("1,5"). */
export function intListOption(name: string, raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  return raw.split(',').map((s) => {
    const v = Number(s);
    if (s.trim() === '' || !Number.isInteger(v)) throw new OptionError(`--${name}`, 'a comma-separated list of integers', raw);
    return v;
  });
}

/**
 * Runs library work whose option errors name the library's options, and renames them to the
 * command's flags (`flags`: library option → flag), so that the user reads the flag they typed.
 */
export async function withFlagNames<T>(flags: Readonly<Record<string, string>>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof OutputPathError) throw e.renamed(flags);
    if (!(e instanceof OptionError || e instanceof MissingOptionError) || e.details.path === undefined || flags[e.details.path] === undefined) throw e;
    const flag = flags[e.details.path];
    const renamed = e instanceof MissingOptionError ? new MissingOptionError(flag, String(e.details.expected)) : new OptionError(flag, String(e.details.expected), e.details.received);
    renamed.stack = e.stack;
    throw renamed;
  }
}
