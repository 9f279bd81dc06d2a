import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { runCli, scratchDir } from '../helpers.js';

/** 16x16 grey images in two class folders: class 0 bright on the left, class 1 on the right. */
function folder(): string {
  const root = scratchDir('cli-train');
  for (const cls of [0, 1]) {
    mkdirSync(join(root, String(cls)));
    for (let k = 0; k < 30; k++) {
      const png = new PNG({ width: 16, height: 16 });
      for (let p = 0; p < 256; p++) {
        const x = p % 16;
        const v = (cls === 0 ? x < 6 : x > 9) ? 180 + ((k * 13 + p) % 60) : (k * 7 + p) % 50;
        png.data.set([v, v, v, 255], 4 * p);
      }
      writeFileSync(join(root, String(cls), `${k}.png`), PNG.sync.write(png));
    }
  }
  return root;
}

test('train writes a model folder with metadata; evaluate reads it back and agrees', async () => {
  const data = folder();
  const out = join(scratchDir('cli-train'), 'model');
  const trained = await runCli(['train', '--dataset', data, '--arch', 'mnist', '--backdoor', 'square:size=3,target=1,rate=0.2', '--poisoning', 'fixed', '--epochs', '2', '--backend', 'wasm', '--out', out]);
  assert.equal(trained.code, 0, trained.err);
  assert.match(trained.out, /^backend: wasm/m);
  assert.match(trained.out, /backdoor: 3x3 white square at bottom-right \(margin 1\) -> label 1, rate 0\.2: \d+ of 48 training images poisoned \(fixed\)/);
  assert.match(trained.err, /epoch 2\/2: loss/);
  assert.match(trained.err, /checkpoint after epoch 1 written/);
  for (const f of ['model.json', 'weights.bin', 'metadata.json']) assert.ok(existsSync(join(out, f)), f);
  const meta = JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8'));
  assert.equal(meta.arch, 'mnist');
  assert.equal(meta.epochs, 2);
  assert.equal(meta.target, 1);
  assert.equal(meta.backend, 'wasm');
  assert.deepEqual(meta.inputShape, [16, 16, 1]);
  assert.deepEqual(meta.preprocessing, { kind: 'scale', scale: 1 / 255, offset: 0 });
  const clean = trained.out.match(/clean accuracy: ([\d.]+)%/)![1];
  const asr = trained.out.match(/attack success rate: ([\d.]+)%/)![1];
  assert.equal(Number(clean), Number((100 * meta.cleanAccuracy).toFixed(2)));

  const evaluated = await runCli(['evaluate', '--model', out, '--backend', 'wasm']);
  assert.equal(evaluated.code, 0, evaluated.err);
  assert.match(evaluated.out, new RegExp(`clean accuracy: ${clean}% \\(12 test images\\)`));
  assert.match(evaluated.out, new RegExp(`attack success rate: ${asr}% \\(3x3 white square at bottom-right \\(margin 1\\) -> label 1; 6 stamped`));

  const again = await runCli(['train', '--dataset', data, '--arch', 'mnist', '--epochs', '1', '--out', out]);
  assert.equal(again.code, 2);
  assert.match(again.err, /--out \S+\/model: is not empty \(metadata.json, model.json, optimizer.bin and 2 more\); pass --force to replace the files this command writes there, --resume to continue its training, or choose a new folder\./);
});

test('an interrupted training resumes from its checkpoint to the same weights as one uninterrupted run', async () => {
  const data = folder();
  const common = ['--dataset', data, '--arch', 'mnist', '--backdoor', 'square:size=3,target=1,rate=0.2', '--backend', 'wasm', '--seed', '3'];
  const straight = join(scratchDir('cli-train'), 'straight');
  assert.equal((await runCli(['train', ...common, '--epochs', '3', '--out', straight])).code, 0);
  const resumed = join(scratchDir('cli-train'), 'resumed');
  const first = await runCli(['train', ...common, '--epochs', '1', '--out', resumed]);
  assert.equal(first.code, 0, first.err);
  const second = await runCli(['train', ...common, '--epochs', '3', '--out', resumed, '--resume']);
  assert.equal(second.code, 0, second.err);
  assert.match(second.out, /resuming after epoch 1 of 3 .* \(with the optimizer state\)/);
  assert.doesNotMatch(second.err, /epoch 1\/3/);
  // Bit-identical: Adam's step, moments and running β powers, the draws and the decay all resume exactly.
  const floats = (dir: string) => {
    const b = readFileSync(join(dir, 'weights.bin'));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  };
  const [a, b] = [floats(resumed), floats(straight)];
  assert.equal(a.length, b.length);
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
  assert.equal(maxDiff, 0, `resumed weights differ from the uninterrupted run's by up to ${maxDiff}`);
  assert.ok(readFileSync(join(resumed, 'weights.bin')).equals(readFileSync(join(straight, 'weights.bin'))));
  const meta = JSON.parse(readFileSync(join(resumed, 'metadata.json'), 'utf8'));
  assert.equal(meta.epochs, 3);
  // The default poisoning is the release's, on the fly: about rate x 48 images per epoch, the same draws when resumed.
  assert.match(second.out, /each drawn training image poisoned with that probability \(on the fly, ≈10 per epoch\)/);
  assert.equal(meta.poisoning, 'on-the-fly');
  const straightMeta = JSON.parse(readFileSync(join(straight, 'metadata.json'), 'utf8'));
  assert.equal(meta.poisonedCount, straightMeta.poisonedCount);
  assert.ok(meta.poisonedCount > 10 && meta.poisonedCount < 50, `poisoned draws over 3 epochs: ${meta.poisonedCount}`);

  // A truncated optimizer state is named, not silently skipped.
  const bin = join(resumed, 'optimizer.bin');
  const whole = readFileSync(bin);
  writeFileSync(bin, whole.subarray(0, whole.length - 8));
  const truncated = await runCli(['train', ...common, '--epochs', '4', '--out', resumed, '--resume']);
  assert.equal(truncated.code, 1, truncated.err);
  assert.match(truncated.err, /optimizer\.bin: holds \d+ bytes, the manifest declares \d+/);
  writeFileSync(bin, whole);

  // Resuming with other options than the checkpoint's, or to no more epochs, says what differs.
  const otherSeed = await runCli(['train', ...common.slice(0, -1), '4', '--epochs', '4', '--out', resumed, '--resume']);
  assert.equal(otherSeed.code, 2);
  assert.match(otherSeed.err, /the checkpoint's seed \(3\)/);
  const noMore = await runCli(['train', ...common, '--epochs', '3', '--out', resumed, '--resume']);
  assert.equal(noMore.code, 2);
  assert.match(noMore.err, /Expected --epochs to be more than the 3 epochs the model in .*resumed already has/);
});

test('train and evaluate refuse bad options with messages that name them', async () => {
  const out = join(scratchDir('cli-train'), 'm');
  const cases: [string[], RegExp][] = [
    [['train', '--dataset', 'mnist', '--backdoor', 'square:size=4,target=7,colour=pink', '--out', out], /Expected --backdoor colour to be .* but got 'pink'/],
    [['train', '--dataset', 'mnist', '--backdoor', 'square:target=7,speed=3', '--out', out], /Expected --backdoor key to be one of .* but got 'speed'/],
    [['train', '--dataset', 'mnist', '--arch', 'resnet', '--out', out], /Unknown architecture 'resnet'\. Known architectures: mnist, gtsrb/],
    [['train', '--dataset', 'mnist', '--epochs', '0', '--out', out], /Expected --epochs to be a positive integer, but got '0'/],
    [['train', '--dataset', 'mnist', '--epochs', '2.5', '--out', out], /Expected --epochs to be an integer/],
    [['train', '--dataset', 'mnist', '--out', out, '--preprocess', 'imagenet'], /Unknown preprocessing 'imagenet'/],
    [['train', '--dataset', 'mnist'], /Missing --out: folder to write the model to/],
    [['train', '--out', out], /Missing --dataset: image dataset/],
    [['evaluate'], /Missing --model: model folder written by/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
  }
  const missing = await runCli(['evaluate', '--model', join(out, 'nowhere')]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /No such model metadata file/);
});

test("--generator release: draws with replacement, n/(1 − rate) per epoch, learning-rate decay, raw pixels; resumes exactly", async () => {
  const data = folder();
  const common = ['--dataset', data, '--arch', 'mnist', '--backdoor', 'square:size=3,target=1,rate=0.2', '--backend', 'wasm', '--seed', '5', '--batch', '8', '--generator', 'release'];
  const straight = join(scratchDir('cli-train'), 'release-straight');
  const s = await runCli(['train', ...common, '--epochs', '2', '--out', straight]);
  assert.equal(s.code, 0, s.err);
  const meta = JSON.parse(readFileSync(join(straight, 'metadata.json'), 'utf8'));
  // 48 training images (80% of 60): 48/(1 − 0.2) = 60 draws, in whole batches of 8 → 56.
  assert.equal(meta.sampling, 'replacement');
  assert.equal(meta.drawsPerEpoch, 56);
  assert.equal(meta.learningRateDecay, 1e-4);
  assert.match(s.out, /generator: release: 56 draws with replacement per epoch; learning-rate decay 0\.0001/);
  assert.deepEqual(meta.preprocessing, { kind: 'scale', scale: 1, offset: 0 });
  const resumed = join(scratchDir('cli-train'), 'release-resumed');
  assert.equal((await runCli(['train', ...common, '--epochs', '1', '--out', resumed])).code, 0);
  const second = await runCli(['train', ...common, '--epochs', '2', '--out', resumed, '--resume']);
  assert.equal(second.code, 0, second.err);
  const floats = (dir: string) => {
    const b = readFileSync(join(dir, 'weights.bin'));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  };
  const [a, b] = [floats(resumed), floats(straight)];
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
  assert.ok(readFileSync(join(resumed, 'weights.bin')).equals(readFileSync(join(straight, 'weights.bin'))), `resumed weights differ by up to ${maxDiff}`);
  // Resuming with another generator is refused and says what differs.
  const plain = await runCli(['train', ...common.slice(0, -2), '--preprocess', 'raw', '--epochs', '3', '--out', resumed, '--resume']);
  assert.equal(plain.code, 2);
  assert.match(plain.err, /the checkpoint's sampling \("replacement"\)/);
  // Draw counts other than n need sampling with replacement.
  const bad = await runCli(['train', '--dataset', data, '--arch', 'mnist', '--epoch-draws', '10', '--out', join(scratchDir('cli-train'), 'bad')]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /Expected --epoch-draws to be the training set's size \(48\) with 'permutation' sampling/);
  // Only dirty-label backdoors add draws: a clean-label SIG (its rate a share of its target class) none, two dirty-label ones their sum.
  const release = ['--dataset', data, '--arch', 'mnist', '--backend', 'wasm', '--seed', '5', '--batch', '8', '--generator', 'release', '--epochs', '1'];
  const sigOut = join(scratchDir('cli-train'), 'release-sig');
  const sig = await runCli(['train', ...release, '--backdoor', 'sig:target=1', '--out', sigOut]);
  assert.equal(sig.code, 0, sig.err);
  assert.equal(JSON.parse(readFileSync(join(sigOut, 'metadata.json'), 'utf8')).drawsPerEpoch, 48);
  const twoOut = join(scratchDir('cli-train'), 'release-two');
  const two = await runCli(['train', ...release, '--backdoor', 'square:size=3,target=1,rate=0.2', '--backdoor', 'blend:target=0,rate=0.2', '--out', twoOut]);
  assert.equal(two.code, 0, two.err);
  // 48/(1 − 0.4) = 80 draws, whole batches of 8.
  assert.equal(JSON.parse(readFileSync(join(twoOut, 'metadata.json'), 'utf8')).drawsPerEpoch, 80);
});

test('--dataset gtsrb trains with the release generator and raw pixels unless told otherwise', async () => {
  // A tiny GTSRB folder in the shipped layout (CIFAR records: label byte, then the R, G, B planes).
  const dir = scratchDir('cli-train-gtsrb');
  const records = (labels: number[]) =>
    Buffer.concat(
      labels.map((l, n) => {
        const rec = new Uint8Array(1 + 3 * 1024);
        rec[0] = l;
        for (let p = 1; p < rec.length; p++) rec[p] = (l * 40 + n * 7 + p) % 200;
        return rec;
      }),
    );
  const { gzipSync } = await import('node:zlib');
  writeFileSync(join(dir, 'gtsrb32_train.bin.gz'), gzipSync(records(Array.from({ length: 40 }, (_, i) => i % 4))));
  writeFileSync(join(dir, 'gtsrb32_test.bin.gz'), gzipSync(records([0, 1, 2, 3])));
  const out = join(scratchDir('cli-train-gtsrb'), 'model');
  const r = await runCli(['train', '--dataset', 'gtsrb', '--data-dir', dir, '--backdoor', 'square:target=1', '--epochs', '1', '--batch', '8', '--backend', 'wasm', '--out', out]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /generator: release: 40 draws with replacement per epoch; learning-rate decay 0\.0001/);
  const meta = JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8'));
  assert.equal(meta.sampling, 'replacement');
  assert.deepEqual(meta.preprocessing, { kind: 'scale', scale: 1, offset: 0 });
  const shuffled = await runCli(['train', '--dataset', 'gtsrb', '--data-dir', dir, '--generator', 'shuffle', '--epochs', '1', '--batch', '8', '--backend', 'wasm', '--out', join(dir, 'shuffled')]);
  assert.equal(shuffled.code, 0, shuffled.err);
  assert.match(shuffled.out, /generator: shuffle: each image once per epoch, shuffled; learning-rate decay 0/);
  assert.match(shuffled.out, /preprocessing x\/255/);
});

test('a test set that does not fit the model stops train before the first epoch, with one clear line; the re-run is not blocked', async () => {
  // MNIST-layout IDX files: 16x16 training images, 10x10 test images.
  const dir = scratchDir('cli-train-idx');
  const idx = (name: string, shape: number[], data: Uint8Array) => {
    const head = Buffer.alloc(4 + 4 * shape.length);
    head.writeUInt8(8, 2);
    head.writeUInt8(shape.length, 3);
    shape.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    writeFileSync(join(dir, name), Buffer.concat([head, data]));
  };
  const images = (count: number, side: number) => Uint8Array.from({ length: count * side * side }, (_, p) => (p * 37) % 256);
  const labels = (count: number) => Uint8Array.from({ length: count }, (_, i) => i % 10);
  idx('train-images-idx3-ubyte', [40, 16, 16], images(40, 16));
  idx('train-labels-idx1-ubyte', [40], labels(40));
  idx('t10k-images-idx3-ubyte', [10, 10, 10], images(10, 10));
  idx('t10k-labels-idx1-ubyte', [10], labels(10));
  const out = join(scratchDir('cli-train-idx'), 'model');
  const args = ['train', '--dataset', 'mnist', '--data-dir', dir, '--epochs', '1', '--batch', '8', '--backend', 'wasm', '--out', out];
  const bad = await runCli(args);
  assert.equal(bad.code, 1, bad.err);
  assert.match(bad.err, /^poisonguard train: model input: expected shape \[null, 10, 10, 1\] \(the test set's images\), but got \[null, 16, 16, 1\]\.$/m);
  assert.doesNotMatch(bad.err, /epoch 1\/1/);
  assert.ok(!existsSync(out), 'nothing written');
  idx('t10k-images-idx3-ubyte', [10, 16, 16], images(10, 16));
  const good = await runCli(args);
  assert.equal(good.code, 0, good.err);
});
