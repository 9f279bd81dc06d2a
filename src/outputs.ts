/**
 * Output paths, claimed before the work: every command that writes a file or a folder calls
 * {@link claimOutputFile} or {@link claimOutputDir} before it loads data or trains anything, so
 * that a path it cannot use (read-only, a file where a folder is wanted, a folder where a file is
 * wanted, an existing result) costs one clear line and no lost work. Nothing here removes a file
 * the project did not write: `--force` removes only what an {@link OwnFiles} description
 * recognises, and refuses (or keeps) everything else.
 */
import { existsSync, lstatSync, readdirSync, realpathSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { PoisonguardError } from './errors.js';

/**
 * An output path that cannot be used; the message names the option, the path and the reason. The
 * reason may name other options as {force} and {resume}: as flags (--force) when the option is a
 * flag, as the library's names otherwise; {@link OutputPathError.renamed} gives the CLI's view of a
 * library error.
 */
export class OutputPathError extends PoisonguardError {
  readonly option: string;
  readonly target: string;
  readonly reason: string;

  constructor(option: string, path: string, reason: string) {
    const flag = option.startsWith('--');
    const rendered = reason.replace(/\{(force|resume)\}/g, (_m, name: string) => (flag ? `--${name}` : name));
    super('invalid-option', `${option} ${path}: ${rendered}`, { path: option, expected: 'a usable output path', received: path });
    this.name = 'OutputPathError';
    this.option = option;
    this.target = path;
    this.reason = reason;
  }

  /** The same error with the option named by `flags` (library name → CLI flag), when it has a flag. */
  renamed(flags: Readonly<Record<string, string | undefined>>): OutputPathError {
    const flag = flags[this.option];
    if (flag === undefined) return this;
    const e = new OutputPathError(flag, this.target, this.reason);
    e.stack = this.stack;
    return e;
  }
}

/** A name pattern: an exact name, or a regular expression over the whole name. */
export type NamePattern = string | RegExp;

/**
 * The files and sub-folders the project writes into a folder (recognised by name); a sub-folder
 * counts as the project's only when everything inside it does too.
 */
export interface OwnFiles {
  readonly files: readonly NamePattern[];
  readonly dirs?: readonly { readonly name: NamePattern; readonly holds: OwnFiles }[];
}

/** Temporary files of an interrupted atomic write (`name.tmp-PID`): always the project's. */
export const TEMP_FILE = /\.tmp-\d+$/;

/** The union of several descriptions (e.g. a run folder holding a certify run and a scan). */
export function ownFiles(...parts: readonly OwnFiles[]): OwnFiles {
  return { files: parts.flatMap((p) => p.files), dirs: parts.flatMap((p) => p.dirs ?? []) };
}

export interface FileClaim {
  /** The option that named the path: a flag ('--json') or a library option ('out'), for the message. */
  readonly option: string;
  /** Replace an existing file (otherwise an existing file is refused). */
  readonly force?: boolean;
}

/**
 * Claims an output file: the path is not a folder, the folder it goes in can be written (or
 * created: then its deepest existing ancestor can be written), and an existing file is refused
 * without `force`. Creates nothing; returns the absolute path.
 */
export function claimOutputFile(path: string, claim: FileClaim): string {
  const abs = resolve(path);
  const { option } = claim;
  if (existsSync(abs)) {
    const st = statSync(abs);
    if (st.isDirectory()) throw new OutputPathError(option, abs, 'is a folder, but a file is wanted.');
    if (!st.isFile()) throw new OutputPathError(option, abs, 'exists and is not a regular file.');
    if (!claim.force) throw new OutputPathError(option, abs, 'already exists; pass {force} to replace it, or choose another file.');
  }
  probeWritable(existingAncestor(dirname(abs), option, abs), option, abs);
  return abs;
}

export interface DirClaim {
  /** The option that named the folder: a flag ('--out') or a library option ('out'). */
  readonly option: string;
  /**
   * What an existing folder may hold:
   *  - 'fresh': nothing (a non-empty folder is refused without `force`);
   *  - 'shared': anything but the project's own files of this kind (a run folder several commands write into);
   *  - 'resume': anything (its owner checks what it finds, e.g. a scan's checkpoint).
   */
  readonly existing: 'fresh' | 'shared' | 'resume';
  readonly force?: boolean;
  /** The project's own files there; with `force` these are removed before the work. */
  readonly own?: OwnFiles;
  /** With `force`: 'refuse' when the folder holds anything else (nothing is removed then), 'keep' leaves it alone. */
  readonly foreign?: 'refuse' | 'keep';
  /** Folders the output must be neither nor inside, compared by real path (symlinks resolved). */
  readonly notOver?: readonly { readonly path: string; readonly what: string }[];
  /** Added to the "pass {force}" hint, e.g. ', {resume} to continue its training'. */
  readonly hint?: string;
}

/**
 * Claims an output folder (see {@link DirClaim}): checks that it can be written (or created),
 * refuses what it must, and with `force` removes the project's own files in it. A missing folder
 * is not created here (the command creates it when it writes). Returns the absolute path.
 */
export function claimOutputDir(path: string, claim: DirClaim): string {
  const abs = resolve(path);
  const { option } = claim;
  const real = realPathOf(abs);
  for (const guard of claim.notOver ?? []) {
    const other = realPathOf(resolve(guard.path));
    const rel = relative(other, real);
    if (rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))) {
      throw new OutputPathError(option, abs, `is ${rel === '' ? '' : 'inside '}${guard.what} (${other}${real !== abs ? `, through a symbolic link` : ''}); choose another folder, the original is kept.`);
    }
  }
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) throw new OutputPathError(option, abs, 'is an existing file, but a folder is wanted.');
    const entries = readdirSync(abs).sort();
    const own = claim.own ?? { files: [] };
    const mine = entries.filter((n) => isOwn(join(abs, n), n, own));
    const others = entries.filter((n) => !mine.includes(n));
    if (claim.force) {
      if (claim.foreign === 'refuse' && others.length > 0) {
        throw new OutputPathError(option, abs, `holds files this command did not write (${listed(others)}); {force} removes only its own files: move them away or choose another folder.`);
      }
    } else if (claim.existing === 'fresh' && entries.length > 0) {
      throw new OutputPathError(option, abs, `is not empty (${listed(entries)}); pass {force} to replace the files this command writes there${claim.hint ?? ''}, or choose a new folder.`);
    } else if (claim.existing === 'shared' && mine.length > 0) {
      throw new OutputPathError(option, abs, `already holds ${listed(mine)}; pass {force} to replace ${mine.length === 1 ? 'it' : 'them'}${claim.hint ?? ''}, or choose another folder.`);
    }
    probeWritable(abs, option, abs);
    if (claim.force) for (const n of mine) removeOwn(join(abs, n), own);
    return abs;
  }
  probeWritable(existingAncestor(abs, option, abs), option, abs);
  return abs;
}

/** Whether `path` (named `name`) is the project's by `own`; a folder only when all it holds is. */
function isOwn(path: string, name: string, own: OwnFiles): boolean {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return false;
  if (st.isFile()) return matches(name, own.files) || TEMP_FILE.test(name);
  if (!st.isDirectory()) return false;
  const sub = own.dirs?.find((d) => matches(name, [d.name]));
  return sub !== undefined && readdirSync(path).every((n) => isOwn(join(path, n), n, sub.holds));
}

/** Removes a file or folder {@link isOwn} accepted, entry by entry (never a recursive delete). */
function removeOwn(path: string, own: OwnFiles): void {
  const st = lstatSync(path);
  if (st.isDirectory()) {
    const sub = own.dirs!.find((d) => matches(basename(path), [d.name]))!;
    for (const n of readdirSync(path)) removeOwn(join(path, n), sub.holds);
    rmdirSync(path);
  } else unlinkSync(path);
}

function matches(name: string, patterns: readonly NamePattern[]): boolean {
  return patterns.some((p) => (typeof p === 'string' ? p === name : p.test(name)));
}

function listed(names: readonly string[]): string {
  const shown = names.slice(0, 3).join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

/** The real path of `abs`, or of its deepest existing ancestor with the rest appended. */
function realPathOf(abs: string): string {
  let head = abs;
  const tail: string[] = [];
  while (!existsSync(head)) {
    const up = dirname(head);
    if (up === head) break;
    tail.unshift(basename(head));
    head = up;
  }
  return join(realpathSync(head), ...tail);
}

/**
 * The deepest existing folder on the way to `dir` (itself when it exists), where the missing
 * folders will be created: nothing is created before the work, so a refused or failed run leaves
 * no empty folder behind; the first component in the way is named.
 */
function existingAncestor(dir: string, option: string, target: string): string {
  let head = dir;
  while (!existsSync(head)) {
    const up = dirname(head);
    if (up === head) break;
    head = up;
  }
  if (!statSync(head).isDirectory()) throw new OutputPathError(option, target, `${head} is a file, but a folder is wanted there.`);
  return head;
}

/** Writes and removes a probe file: permission bits alone do not tell (root, read-only mounts). */
function probeWritable(dir: string, option: string, target: string): void {
  const probe = join(dir, `.poisonguard-write-test-${process.pid}`);
  try {
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (e) {
    throw new OutputPathError(option, target, `cannot write in ${dir} (${reason(e)}).`);
  }
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const why: Record<string, string> = { EACCES: 'permission denied', EPERM: 'operation not permitted', EROFS: 'read-only file system', ENOSPC: 'no space left', ENOTDIR: 'a path component is a file' };
  return err.code ? `${err.code}: ${why[err.code] ?? 'error'}` : String(err.message ?? e);
}
