/**
 * Neuron ranking (Neural Cleanse §VI-A): neurons of the chosen layer ordered by how much more they
 * fire on inputs stamped with the reversed trigger than on the same inputs clean — the mean
 * activation over the stamped inputs minus the mean over the clean ones, largest first.
 * Works on plain arrays (count × units, one row per input).
 */
import { ShapeError } from '../../errors.js';

export interface NeuronRanking {
  /** Neuron indices, the most trigger-excited first (ties: lower index first). */
  readonly order: readonly number[];
  /** Per neuron (by index): mean activation on stamped inputs minus mean on clean inputs. */
  readonly scores: readonly number[];
  readonly meanClean: readonly number[];
  readonly meanStamped: readonly number[];
  /** Inputs each mean was taken over. */
  readonly cleanCount: number;
  readonly stampedCount: number;
}

/** Column means of a count × units matrix. */
export function columnMeans(rows: Float32Array, units: number): Float64Array {
  if (units <= 0 || rows.length % units !== 0) throw new ShapeError('activations', `count × ${units}`, `${rows.length} values`);
  const count = rows.length / units;
  const sum = new Float64Array(units);
  for (let i = 0; i < count; i++) for (let u = 0; u < units; u++) sum[u] += rows[i * units + u];
  if (count > 0) for (let u = 0; u < units; u++) sum[u] /= count;
  return sum;
}

/** Ranks the neurons from activations on clean and on stamped inputs (see the module comment). */
export function rankNeurons(clean: Float32Array, stamped: Float32Array, units: number): NeuronRanking {
  const mc = columnMeans(clean, units);
  const ms = columnMeans(stamped, units);
  const scores = Array.from(ms, (s, u) => s - mc[u]);
  const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
  return {
    order,
    scores,
    meanClean: Array.from(mc),
    meanStamped: Array.from(ms),
    cleanCount: clean.length / units,
    stampedCount: stamped.length / units,
  };
}
