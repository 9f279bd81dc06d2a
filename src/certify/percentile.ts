/** Percentile with linear interpolation between order statistics (numpy's default, 'linear'). */
import { checkRange } from '../options.js';

export function percentile(values: ArrayLike<number>, q: number): number {
  checkRange('percentile', q, 0, 100, true);
  const n = values.length;
  if (n === 0) throw new RangeError('percentile of an empty set');
  const sorted = Float64Array.from(values).sort();
  const pos = (q / 100) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}
