/**
 * The release's hyper-parameters per dataset (Steinhardt, Koh & Liang 2017, official code; see
 * docs/ for the specification). Every result records the recipe that made it.
 */

/**
 * How the candidate attack's points are made:
 * - 'continuous': the closed-form best responses over F (images, dense features);
 * - 'rounded' (IMDB release): Algorithm 1 on a shrunken set, then clip negatives and round randomly;
 * - 'integer' (Enron release): an integer best response per iteration, T = εn, every iterate kept.
 */
export type PointKind = 'continuous' | 'rounded' | 'integer';
export const POINT_KINDS: readonly PointKind[] = ['continuous', 'rounded', 'integer'];

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
  readonly pointKind: PointKind;
  /** 'rounded': percentiles of the shrunken sphere and slab the attack run uses. */
  readonly shrunkenPercentiles?: { readonly sphere: number; readonly slab: number };
  /** 'integer': the attack run's step size as a function of ε. */
  readonly integerEta?: (eps: number) => number;
}

export const CERTIFY_RECIPES: Readonly<Record<string, CertifyRecipe>> = {
  mnist17: { eta: 0.1, iterations: 8000, rho2: 0.8, epsGrid: [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.2, 0.3], percentile: 70, pointKind: 'continuous' },
  dogfish: { eta: 0.05, iterations: 15000, rho2: 0.5, epsGrid: [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.2, 0.3], percentile: 70, pointKind: 'continuous' },
  enron: {
    eta: 0.1,
    iterations: 8000,
    rho2: 6,
    epsGrid: [0, 0.01, 0.02, 0.03, 0.04, 0.05],
    percentile: 70,
    pointKind: 'integer',
    // The release: η = (0.008/ε)·√(ε/0.05) for the integer attack run.
    integerEta: (eps) => (0.008 / eps) * Math.sqrt(eps / 0.05),
  },
  imdb: {
    eta: 0.001,
    iterations: 6000,
    rho2: 16,
    epsGrid: [0, 0.01, 0.02, 0.03, 0.04, 0.05],
    percentile: 70,
    pointKind: 'rounded',
    // The release: sphere at the 10th percentile, slab at the 65th, for the attack run.
    shrunkenPercentiles: { sphere: 10, slab: 65 },
  },
};

/** A recipe for datasets the release did not cover: MNIST-1-7's. */
export const DEFAULT_RECIPE: CertifyRecipe = CERTIFY_RECIPES.mnist17;
