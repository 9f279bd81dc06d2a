/**
 * `poisonguard filter`: apply an input filter to image files — Neural Cleanse's (made by `mitigate
 * --method filter`) or STRIP's (made by `scan --detectors strip --out DIR`).
 */
import type { Command } from './command.js';

const options = {
  model: { type: 'string', required: true, value: 'DIR|FILE', help: 'The model the filter was made for: a model folder, or an ONNX file or folder holding model.onnx (checked by its SHA-256).' },
  filter: { type: 'string', required: true, value: 'FILE', help: 'filter.json written by `poisonguard mitigate --method filter --out DIR`, or strip-filter.json written by `poisonguard scan --detectors strip --out DIR`.' },
  'data-dir': { type: 'string', value: 'DIR', help: "STRIP filters: the folder of the dataset whose test images are superimposed (default: as the scan found it)." },
  input: { type: 'string', required: true, value: 'FILE|DIR', help: 'An image (PNG, PPM/PGM, JPEG) or a folder of images, of the model input size.' },
  backend: { type: 'string', value: 'NAME', help: 'TF.js backend: auto, tensorflow, wasm or cpu (TF.js model folders only).' },
  json: { type: 'boolean', help: 'Print the verdicts as JSON.' },
} as const;

export const filterCommand: Command<typeof options> = {
  name: 'filter',
  summary: 'Flag inputs that carry a backdoor trigger, with an input filter made by `mitigate --method filter`.',
  description: `
Each input's activation profile (the mean activation of the filter's neurons) is compared with the
filter's threshold; above it, the input is flagged. Prints one line per input: flagged or clean,
and the profile. Exit code 0 either way.

Example: poisonguard filter --model runs/mnist-badnets --filter runs/mnist-filter/filter.json --input images/`,
  options,
  async run(v, _pos, ctx) {
    const { readFilter, filterProfiles } = await import('../cleanse/mitigation/filter.js');
    const { inputFiles, readInputs, applyFilterWithModel } = await import('../cleanse/mitigation/filter-apply.js');
    const { resolve } = await import('node:path');
    const { readFileSync } = await import('node:fs');
    const strip = await import('../cleanse/detectors/strip-filter.js');
    // A missing or broken file is the neuron filter's reader to report, as before.
    let peek: unknown;
    try {
      peek = JSON.parse(readFileSync(v.filter, 'utf8'));
    } catch {
      peek = undefined;
    }
    if (strip.isStripFilterFile(peek)) {
      const f = strip.readStripFilter(v.filter);
      const files = inputFiles(v.input);
      const result = await strip.applyStripFilterFile(v.model, f, readInputs(files, f.inputShape), v['data-dir']);
      const rows = files.map((file, i) => ({ file, entropy: result.entropies[i], flagged: result.flagged[i] }));
      if (v.json) {
        ctx.out(JSON.stringify({ filter: resolve(v.filter), kind: 'strip', threshold: f.threshold, inputs: rows }, null, 2));
        return 0;
      }
      for (const r of rows) ctx.out(`${r.flagged ? 'FLAGGED' : 'clean  '}  entropy ${r.entropy.toFixed(4)}  ${r.file}`);
      const k = rows.filter((r) => r.flagged).length;
      ctx.out(`${k} of ${rows.length} input(s) flagged (STRIP: entropy under ${f.overlays} superimpositions below ${f.threshold.toFixed(4)}, set for a ${(100 * f.frr).toFixed(1)}% false rejection rate on clean images)`);
      return 0;
    }
    if (v['data-dir'] !== undefined) throw new (await import('../errors.js')).OptionError('--data-dir', 'used with a STRIP filter only', v['data-dir']);
    const filter = readFilter(v.filter);
    const profiles = filterProfiles(filter);
    const several = profiles.length > 1;
    const files = inputFiles(v.input);
    const images = readInputs(files, filter.inputShape);
    const result = await applyFilterWithModel(v.model, filter, images, v.backend as never);
    const rows = files.map((file, i) => ({ file, profile: result.profiles[i], ...(several ? { profiles: result.byLabel.map((b) => b.profiles[i]) } : {}), flagged: result.flagged[i] }));
    if (v.json) {
      const thresholds = several ? { labels: profiles.map((p) => p.label), thresholds: profiles.map((p) => p.threshold) } : {};
      ctx.out(JSON.stringify({ filter: resolve(v.filter), threshold: profiles[0].threshold, ...thresholds, inputs: rows }, null, 2));
      return 0;
    }
    for (const r of rows) {
      const shown = r.profiles ? `profiles ${r.profiles.map((p, l) => `${profiles[l].label}: ${p.toFixed(4)}`).join(', ')}` : `profile ${r.profile.toFixed(4)}`;
      ctx.out(`${r.flagged ? 'FLAGGED' : 'clean  '}  ${shown}  ${r.file}`);
    }
    const k = rows.filter((r) => r.flagged).length;
    const rule = several
      ? `thresholds ${profiles.map((p) => `${p.label}: ${p.threshold.toFixed(4)}`).join(', ')}, set together for a ${(100 * filter.fpr).toFixed(1)}% false positive rate on clean images; labels ${profiles.map((p) => p.label).join(', ')}, flagged when any is exceeded`
      : `threshold ${profiles[0].threshold.toFixed(4)}, set for a ${(100 * filter.fpr).toFixed(1)}% false positive rate on clean images; label ${profiles[0].label}`;
    ctx.out(`${k} of ${rows.length} input(s) flagged (${rule})`);
    return 0;
  },
};
