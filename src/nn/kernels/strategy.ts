/**
 * Which formulation the convolution-gradient kernels use: 'auto' (default) picks the cheaper per
 * shape; 'conv' and 'matmul' force one, for tests that must cover both and for benchmarks.
 */
export const CONV_GRADIENT_STRATEGIES = ['auto', 'conv', 'matmul'] as const;
export type ConvGradientStrategy = (typeof CONV_GRADIENT_STRATEGIES)[number];

let current: ConvGradientStrategy = 'auto';

export function setConvGradientStrategy(strategy: ConvGradientStrategy): void {
  current = strategy;
}

export function convGradientStrategy(): ConvGradientStrategy {
  return current;
}
