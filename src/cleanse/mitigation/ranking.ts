/**
 * Neuron ranking (Neural Cleanse §VI-A): neurons of the chosen layer ordered by how much more they
 * fire on inputs stamped with the reversed trigger than on the same inputs clean — the mean
 * activation over the stamped inputs minus the mean over the clean ones, largest first.
 *
 * Several reversed triggers (several infected labels; the same clean inputs stamped with each): a
 * neuron's score is the LARGEST of its gaps over the triggers. A neuron that carries one backdoor is
 * then ranked by what that backdoor does to it, whatever the other triggers do; the sum would let
 * two triggers' moderate responses outrank a neuron that alone carries one backdoor, and a negative
 * gap under one trigger would hide a neuron the other drives. The gaps are in the same layer's units,
 * so they compare without rescaling. With one trigger the maximum is that trigger's gap: the ranking
 * is the single-trigger one, number for number.
 *
 * Works on plain arrays (count × units, one row per input).
 */
import { ShapeError } from '../../errors.js';

export interface NeuronRanking {
  /** Neuron indices, the most trigger-excited first (ties: lower index first). */
  readonly order: readonly number[];
  /** Per neuron (by index): mean activation on stamped inputs minus mean on clean inputs (several triggers: the largest). */
  readonly scores: readonly number[];
  readonly meanClean: readonly number[];
  /** Per neuron, the mean on stamped inputs (several triggers: under the trigger whose gap is the score). */
  readonly meanStamped: readonly number[];
  /** Several triggers: per neuron, the index (in the order given) of the trigger whose gap is the score. */
  readonly trigger?: readonly number[];
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

/** Ranks the neurons from activations on clean inputs and on the same inputs stamped with one trigger or each of several (see the module comment). */
export function rankNeurons(clean: Float32Array, stamped: Float32Array | readonly Float32Array[], units: number): NeuronRanking {
  const each = stamped instanceof Float32Array ? [stamped] : [...stamped];
  if (each.length === 0) throw new ShapeError('stamped activations', 'one set per trigger, at least one', 'none');
  const mc = columnMeans(clean, units);
  const means = each.map((s) => columnMeans(s, units));
  // Per neuron, the trigger with the largest gap (the first on a tie).
  const best = Array.from(mc, (c, u) => means.reduce((b, m, t) => (m[u] - c > means[b][u] - c ? t : b), 0));
  const scores = best.map((t, u) => means[t][u] - mc[u]);
  const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
  return {
    order,
    scores,
    meanClean: Array.from(mc),
    meanStamped: best.map((t, u) => means[t][u]),
    ...(each.length > 1 ? { trigger: best } : {}),
    cleanCount: clean.length / units,
    stampedCount: each[0].length / units,
  };
}
