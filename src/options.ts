/**
 * Validation of option values, with one message shape:
 * "Expected <option> to be <constraint>, but got <value>." (see {@link OptionError}).
 */
import { OptionError } from './errors.js';

export function checkFinite(option: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new OptionError(option, 'a finite number', value);
  return value;
}

export function checkPositive(option: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new OptionError(option, 'a positive number', value);
  }
  return value;
}

export function checkNonNegative(option: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new OptionError(option, 'a non-negative number', value);
  return value;
}

export function checkPositiveInt(option: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new OptionError(option, 'a positive integer', value);
  return value;
}

export function checkNonNegativeInt(option: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new OptionError(option, 'a non-negative integer', value);
  return value;
}

/** Checks lo <= value < hi (or <= hi when `closedHigh`). */
export function checkRange(option: string, value: number, lo: number, hi: number, closedHigh = false): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= lo && (closedHigh ? value <= hi : value < hi);
  if (!ok) throw new OptionError(option, `in [${lo}, ${hi}${closedHigh ? ']' : ')'}`, value);
  return value;
}

export function checkOneOf<T extends string>(option: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new OptionError(option, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}
