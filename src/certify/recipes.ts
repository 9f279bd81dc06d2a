/**
 * The release's hyper-parameters per dataset (Steinhardt, Koh & Liang 2017, official code; see
 * docs/ for the specification). Every result records the recipe that made it.
 */
export interface CertifyRecipe {
  /** Step size η of Algorithm 1. */
  readonly eta: number;
  /** Iterations T in release mode. */
  readonly iterations: number;
  /** Radius² of Θ, shared by Algorithm 1 and the defender's norm-matched SVM. */
  readonly rho2: number;
  /** The ε grid of the paper's figure. */
  readonly epsGrid: readonly number[];
  /** Percentile of the oracle sphere and slab radii. */
  readonly percentile: number;
}

export const CERTIFY_RECIPES: Readonly<Record<string, CertifyRecipe>> = {
  mnist17: { eta: 0.1, iterations: 8000, rho2: 0.8, epsGrid: [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.2, 0.3], percentile: 70 },
  dogfish: { eta: 0.05, iterations: 15000, rho2: 0.5, epsGrid: [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.2, 0.3], percentile: 70 },
  enron: { eta: 0.1, iterations: 8000, rho2: 6, epsGrid: [0, 0.01, 0.02, 0.03, 0.04, 0.05], percentile: 70 },
  imdb: { eta: 0.001, iterations: 6000, rho2: 16, epsGrid: [0, 0.01, 0.02, 0.03, 0.04, 0.05], percentile: 70 },
};

/** A recipe for datasets the release did not cover: MNIST-1-7's. */
export const DEFAULT_RECIPE: CertifyRecipe = CERTIFY_RECIPES.mnist17;
