/** The `poisonguard` command line: dispatch, help and error rendering. */
import { PoisonguardError } from '../errors.js';
import { commandHelp, parseCommandArgs, type Command, type CommandContext } from './command.js';
import { commands } from './commands.js';

const VERSION = '0.1.0';

function globalHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    'poisonguard — defend machine-learning models against data poisoning',
    '',
    'Usage: poisonguard <command> [options]   (poisonguard <command> --help for its options)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Options: --help, --version',
  ].join('\n');
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[], ctxOverride?: Partial<CommandContext>): Promise<number> {
  const ctx: CommandContext = {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    interactive: Boolean(process.stderr.isTTY),
    ...ctxOverride,
  };
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    ctx.out(globalHelp());
    return name === undefined ? 1 : 0;
  }
  if (name === '--version' || name === '-v') {
    ctx.out(VERSION);
    return 0;
  }
  const command = commands.find((c) => c.name === name) as Command | undefined;
  if (!command) {
    ctx.err(`poisonguard: unknown command '${name}'. Known commands: ${commands.map((c) => c.name).join(', ')}.`);
    return 2;
  }
  const debug = rest.includes('--debug');
  try {
    const { values, positionals } = parseCommandArgs(command, rest);
    if (values.help) {
      ctx.out(commandHelp(command));
      return 0;
    }
    const runCtx = { ...ctx, interactive: ctx.interactive && !values.quiet, quiet: Boolean(ctx.quiet) || values.quiet };
    return await command.run(values, positionals, runCtx);
  } catch (e) {
    if (e instanceof PoisonguardError && !debug) {
      ctx.err(`poisonguard ${name}: ${e.message}`);
      return e.code === 'invalid-option' || e.code === 'unknown-name' ? 2 : 1;
    }
    ctx.err(`poisonguard ${name}: ${e instanceof Error ? (debug ? e.stack ?? e.message : e.message) : String(e)}`);
    if (!debug && !(e instanceof PoisonguardError)) ctx.err('(run with --debug for the stack trace)');
    return 1;
  }
}
