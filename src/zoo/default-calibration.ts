/**
 * The calibration `zoo scan` uses without --calibration: fitted by bench/zoo-calibration.ts on the
 * project's own scanned models (fittedOn says which, and with what recipe). Regenerate it with
 * `node --import tsx bench/zoo-calibration.ts --write`, not by hand.
 */
export const DEFAULT_CALIBRATION_SOURCE = 'shipped default (bench/zoo-calibration.ts)';

export const DEFAULT_CALIBRATION: unknown = {
  "format": "poisonguard-zoo-calibration",
  "features": [
    "anomalyIndex",
    "secondary",
    "logNormRatio"
  ],
  "mean": [
    2.1633333333333336,
    4.783333333333333,
    0.954231040705711
  ],
  "sd": [
    1.0179008901765545,
    3.4572757419036675,
    0.6858251512093657
  ],
  "weights": [
    0.43570167258797576,
    0.6942932319589378,
    0.8092823146987781
  ],
  "bias": 0.14235919824650942,
  "l2": 1,
  "fittedOn": {
    "zoo": "docs/RESULTS.md: six MNIST models (three BadNets, three clean)",
    "models": 6,
    "infected": 3,
    "recipe": {
      "scan": "fast mode (budget 30 steps, escalation on), the release's recipe otherwise",
      "dataset": "MNIST",
      "models": "two conv nets trained 2–5 epochs, BadNets 4x4 and 5x5 squares (targets 7, 3, 0) and clean"
    },
    "date": "2026-12-05"
  }
};
