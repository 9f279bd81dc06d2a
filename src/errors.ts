/**
 * The project's error classes. Errors are data first (a code, what was expected, what was
 * received, where) and rendered for people by `message`; the CLI prints the message and exits
 * non-zero, with the stack only under `--debug`.
 */

/** Machine-readable reason for a {@link PoisonguardError}. */
export type ErrorCode =
  | 'invalid-option' // an option or argument has a bad value
  | 'unknown-name' // a dataset, method, command or label that does not exist
  | 'data-format' // a file exists but its content is malformed, truncated or inconsistent
  | 'not-found' // a file or directory is missing
  | 'unsafe-path' // a model file points outside its folder
  | 'shape-mismatch' // arrays whose shapes do not fit together
  | 'not-finite' // NaN or infinity in data
  | 'interrupted'; // a long run was stopped (resumable from its checkpoint)

/** Structured context of an error; every field optional. */
export interface ErrorDetails {
  /** The option, file, key or label concerned. */
  readonly path?: string;
  /** What was expected, in words. */
  readonly expected?: string;
  /** What was received, in words or as a value. */
  readonly received?: unknown;
  /** A 1-based line or 0-based record/byte position inside `path`. */
  readonly position?: number;
}

/** Base class of every error a user can cause. */
export class PoisonguardError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PoisonguardError';
    this.code = code;
    this.details = details;
  }

  /** A JSON-friendly view, for reports and machine consumers. */
  toJSON(): { code: ErrorCode; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** A bad option value: "Expected eps to be in [0, 1), but got 1.5". */
export class OptionError extends PoisonguardError {
  constructor(option: string, expected: string, received: unknown) {
    super('invalid-option', `Expected ${option} to be ${expected}, but got ${render(received)}.`, {
      path: option,
      expected,
      received,
    });
    this.name = 'OptionError';
  }
}

/** A required option that was not given: "Missing --model: a model folder." */
export class MissingOptionError extends PoisonguardError {
  constructor(option: string, what: string) {
    super('invalid-option', `Missing ${option}: ${what}.`, { path: option, expected: what });
    this.name = 'MissingOptionError';
  }
}

/** A name that is not one of the known ones; the message lists the valid names. */
export class UnknownNameError extends PoisonguardError {
  constructor(kind: string, received: string, known: readonly (string | number)[]) {
    super('unknown-name', `Unknown ${kind} '${received}'. Known ${kind}s: ${known.join(', ')}.`, {
      path: kind,
      expected: `one of ${known.join(', ')}`,
      received,
    });
    this.name = 'UnknownNameError';
  }
}

/** Malformed, truncated or inconsistent content in a file. */
export class DataFormatError extends PoisonguardError {
  constructor(file: string, problem: string, details: Omit<ErrorDetails, 'path'> = {}) {
    const where = details.position !== undefined ? `${file} (at ${details.position})` : file;
    super('data-format', `${where}: ${problem}`, { ...details, path: file });
    this.name = 'DataFormatError';
  }
}

/** A missing file or directory. */
export class NotFoundError extends PoisonguardError {
  constructor(path: string, what = 'file or directory', hint?: string) {
    super('not-found', `No such ${what}: ${path}${hint ? `. ${hint}` : ''}`, { path });
    this.name = 'NotFoundError';
  }
}

/** Arrays whose shapes do not fit together. */
export class ShapeError extends PoisonguardError {
  constructor(what: string, expected: string, received: string) {
    super('shape-mismatch', `${what}: expected shape ${expected}, but got ${received}.`, {
      path: what,
      expected,
      received,
    });
    this.name = 'ShapeError';
  }
}

function render(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
