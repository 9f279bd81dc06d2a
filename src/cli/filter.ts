/** `poisonguard filter`: apply a Neural Cleanse input filter (made by `mitigate --method filter`) to image files. */
import type { Command } from './command.js';

const options = {
  model: { type: 'string', required: true, value: 'DIR', help: 'The model folder the filter was made for (checked by the SHA-256 over its files).' },
  filter: { type: 'string', required: true, value: 'FILE', help: 'filter.json written by `poisonguard mitigate --method filter --out DIR`.' },
  input: { type: 'string', required: true, value: 'FILE|DIR', help: 'An image (PNG, PPM/PGM, JPEG) or a folder of images, of the model input size.' },
  backend: { type: 'string', value: 'NAME', help: 'TF.js backend: auto, tensorflow, wasm or cpu.' },
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
    const { readFilter, checkFilterModel } = await import('../cleanse/mitigation/filter.js');
    const { inputFiles, readInputs, applyFilter } = await import('../cleanse/mitigation/filter-apply.js');
    const { hashModelFolder } = await import('../run-files.js');
    const { resolve } = await import('node:path');
    const filter = readFilter(v.filter);
    const modelDir = resolve(v.model);
    const { loadModel } = await import('../nn/model-io.js');
    const { initEngine } = await import('../nn/engine.js');
    const files = inputFiles(v.input);
    const images = readInputs(files, filter.inputShape);
    await initEngine({ ...(v.backend !== undefined ? { backend: v.backend as never } : {}) });
    const { model } = await loadModel(modelDir);
    checkFilterModel(filter, hashModelFolder(modelDir), modelDir);
    let result;
    try {
      result = await applyFilter(model, filter, images);
    } finally {
      model.dispose();
    }
    const rows = files.map((file, i) => ({ file, profile: result.profiles[i], flagged: result.flagged[i] }));
    if (v.json) {
      ctx.out(JSON.stringify({ filter: resolve(v.filter), threshold: filter.threshold, inputs: rows }, null, 2));
      return 0;
    }
    for (const r of rows) ctx.out(`${r.flagged ? 'FLAGGED' : 'clean  '}  profile ${r.profile.toFixed(4)}  ${r.file}`);
    const k = rows.filter((r) => r.flagged).length;
    ctx.out(`${k} of ${rows.length} input(s) flagged (threshold ${filter.threshold.toFixed(4)}, set for a ${(100 * filter.fpr).toFixed(1)}% false positive rate on clean images; label ${filter.label})`);
    return 0;
  },
};
