/**
 * PyTorch's torch.optim.SGD on plain Float32Arrays, for recipes that name it (DPA's release trains
 * its base networks with SGD, Nesterov momentum 0.9, weight decay 5e-4 on every parameter). The
 * update per weight, as torch.optim.SGD with dampening 0:
 *   d = g + λ·w;  b = μ·b + d (b = d on the first step);  d = d + μ·b (Nesterov) or d = b;  w = w − lr·d.
 * Computed in double precision per element and rounded once when stored.
 */

/** DPA's release: momentum 0.9, Nesterov, weight decay 5e-4 (train_mnist_nin_baseline.py). */
export interface SgdSettings {
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
}

/** SGD's state: the updates made and each weight's momentum buffer (torch's `momentum_buffer`). */
export interface SgdState {
  step: number;
  readonly buffers: Map<string, Float32Array>;
}

export function newSgdState(weights: ReadonlyMap<string, Float32Array>): SgdState {
  return { step: 0, buffers: new Map([...weights].map(([name, w]) => [name, new Float32Array(w.length)])) };
}

/** One SGD update of every weight in `grads` (in place: `weights` and the state's buffers) at learning rate `lr`. */
export function sgdStep(weights: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>, state: SgdState, lr: number, settings: SgdSettings): void {
  const { momentum: mu, nesterov, weightDecay: wd } = settings;
  for (const [name, g] of grads) {
    const w = weights.get(name);
    const b = state.buffers.get(name);
    if (w === undefined || b === undefined || w.length !== g.length || b.length !== g.length) throw new Error(`SGD: weight '${name}' has no state or the wrong size`);
    for (let i = 0; i < w.length; i++) {
      const d = g[i] + wd * w[i];
      // torch starts the buffer at the first d itself: μ·0 + d, the same with dampening 0 (and
      // with μ = 0 the buffer is d and the step plain SGD's).
      const buf = mu * b[i] + d;
      b[i] = buf;
      w[i] -= lr * (nesterov ? d + mu * buf : buf);
    }
  }
  state.step++;
}
