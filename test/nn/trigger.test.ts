import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { imageSet, type ImageSet } from '../../src/data/images.js';
import { MissingOptionError, OptionError, UnknownNameError } from '../../src/errors.js';
import { Random } from '../../src/random.js';
import {
  checkBackdoor,
  DEFAULT_POISON_RATE,
  poisonBadNets,
  resolveTrigger,
  squareTrigger,
  stamp,
  type Trigger,
} from '../../src/nn/trigger.js';
import { parseBackdoorSpec } from '../../src/nn/backdoor-spec.js';
import { scratchDir } from '../helpers.js';

/** n images h×w×c whose every byte is 20 + (image index mod 200) (never 0 or 255, so untouched pixels are recognisable). */
function grey(n: number, h: number, w: number, c: number, labels?: number[]): ImageSet {
  const size = h * w * c;
  const images = new Uint8Array(n * size);
  for (let i = 0; i < n; i++) images.fill(base(i), i * size, (i + 1) * size);
  return imageSet(images, Int32Array.from(labels ?? Array.from({ length: n }, (_, i) => i % 10)), h, w, c);
}

/** The set of (row, col) pixels where image `n` differs from its original value. */
function changed(set: ImageSet, n: number): string[] {
  const out: string[] = [];
  const { height: h, width: w, channels: c } = set;
  for (let r = 0; r < h; r++) for (let col = 0; col < w; col++) {
    for (let k = 0; k < c; k++) {
      if (set.images[((n * h + r) * w + col) * c + k] !== base(n)) {
        out.push(`${r},${col}`);
        break;
      }
    }
  }
  return out;
}

function base(i: number): number {
  return 20 + (i % 200);
}

function square(top: number, left: number, size: number): string[] {
  const out: string[] = [];
  for (let r = top; r < top + size; r++) for (let c = left; c < left + size; c++) out.push(`${r},${c}`);
  return out;
}

test('the default square is 4x4 white at rows/cols H−5..H−2 (32x32 RGB) and 23..26 (28x28 grey)', () => {
  const rgb = stamp(grey(2, 32, 32, 3), squareTrigger());
  for (const n of [0, 1]) assert.deepEqual(changed(rgb, n), square(27, 27, 4));
  for (let k = 0; k < 3; k++) assert.equal(rgb.images[(27 * 32 + 27) * 3 + k], 255);
  assert.equal(rgb.images[(26 * 32 + 27) * 3], base(0), 'row above the square untouched');
  assert.equal(rgb.images[(31 * 32 + 31) * 3], base(0), 'the 1-pixel margin untouched');
  const mono = stamp(grey(1, 28, 28, 1), squareTrigger());
  assert.deepEqual(changed(mono, 0), square(23, 23, 4));
  assert.equal(mono.images[23 * 28 + 23], 255);
});

test('named positions, margins, explicit x,y and colours stamp exactly where asked', () => {
  const cases: [Trigger, string[]][] = [
    [squareTrigger({ position: 'top-left' }), square(1, 1, 4)],
    [squareTrigger({ position: 'top-right', margin: 0, size: 3 }), square(0, 29, 3)],
    [squareTrigger({ position: 'bottom-left', margin: 2 }), square(26, 2, 4)],
    [squareTrigger({ position: 'centre', size: 5 }), square(13, 13, 5)],
    [squareTrigger({ position: { x: 3, y: 10 }, size: 2 }), square(10, 3, 2)],
  ];
  for (const [trigger, expected] of cases) assert.deepEqual(changed(stamp(grey(1, 32, 32, 3), trigger), 0), expected, JSON.stringify(trigger.kind === 'square' && trigger.position));
  const red = stamp(grey(1, 8, 8, 3), squareTrigger({ colour: [255, 0, 0], size: 2 }));
  assert.deepEqual(Array.from(red.images.subarray((5 * 8 + 5) * 3, (5 * 8 + 5) * 3 + 3)), [255, 0, 0]);
  assert.throws(() => stamp(grey(1, 8, 8, 1), squareTrigger({ colour: [255, 0, 0] })), /grey \(R = G = B\) on 1-channel images/);
  assert.throws(() => stamp(grey(1, 8, 8, 3), squareTrigger({ size: 8 })), /Expected trigger to be inside the 8x8 image, but got 'a 8x8 square at row -1, column -1/);
  // Only the listed images are stamped; the source set is never modified.
  const src = grey(3, 8, 8, 1);
  const some = stamp(src, squareTrigger({ size: 2 }), [1]);
  assert.deepEqual([changed(some, 0).length, changed(some, 1).length, changed(some, 2).length], [0, 4, 0]);
  assert.equal(changed(src, 1).length, 0);
});

test('a pattern trigger blends (1 − m)·x + m·p in the raw domain', () => {
  const h = 2;
  const w = 2;
  const trigger: Trigger = { kind: 'pattern', height: h, width: w, pattern: [200, 200, 200, 0, 0, 0, 0, 0, 0, 50, 60, 70], mask: [1, 0, 0, 0.5] };
  const out = stamp(grey(1, h, w, 3), trigger); // every byte 20
  // Last pixel: 0.5·20 + 0.5·(50, 60, 70) = 35, 40, 45.
  assert.deepEqual(Array.from(out.images), [200, 200, 200, 20, 20, 20, 20, 20, 20, 35, 40, 45]);
  const r = resolveTrigger(trigger, h, w, 3);
  assert.deepEqual(r.box, { top: 0, left: 0, bottom: 1, right: 1 });
});

test('the CLI spec parses with the release defaults and names bad keys and values', () => {
  const full = parseBackdoorSpec('square:size=4,pos=bottom-right,colour=white,target=7,rate=0.091');
  assert.deepEqual(full, { trigger: squareTrigger(), target: 7, rate: 0.091 });
  const minimal = parseBackdoorSpec('square:target=33');
  assert.equal(minimal.rate, DEFAULT_POISON_RATE);
  assert.equal(DEFAULT_POISON_RATE, 0.1 / 1.1);
  assert.deepEqual(minimal.trigger, squareTrigger());
  assert.deepEqual(parseBackdoorSpec('square:x=2,y=3,color=#ff8000,size=2,target=0').trigger, squareTrigger({ position: { x: 2, y: 3 }, size: 2, colour: [255, 128, 0] }));
  assert.deepEqual(parseBackdoorSpec('square:colour=10:20:30,target=0,pos=center').trigger, squareTrigger({ position: 'centre', colour: [10, 20, 30] }));
  const bad: [string, RegExp][] = [
    ['square:sise=4,target=1', /Expected --backdoor key to be one of size, pos, margin, x, y, colour, target, rate for a square trigger, but got 'sise'/],
    ['square:size=0,target=1', /Expected --backdoor size to be a positive integer, but got '0'/],
    ['square:size=2.5,target=1', /--backdoor size .* got '2\.5'/],
    ['square:pos=middle,target=1', /Expected --backdoor pos to be one of bottom-right, .*, but got 'middle'/],
    ['square:colour=purple,target=1', /Expected --backdoor colour to be white, black, red, green, blue, #rrggbb, R:G:B or a grey level 0\.\.255, but got 'purple'/],
    ['square:target=1,rate=1.5', /Expected --backdoor rate to be a number in \[0, 1\], but got '1\.5'/],
    ['square:target=-1', /--backdoor target .* got '-1'/],
    ['square:size=4', /Missing --backdoor target: target=LABEL/],
    ['square:target=1,target=2', /--backdoor target .* given once/],
    ['square:target=1,x=3', /x,y .* given together/],
    ['square:target=1,x=3,y=3,pos=top-left', /used without pos and margin/],
    ['square:target', /Expected --backdoor 'target' to be key=value/],
  ];
  for (const [spec, re] of bad) assert.throws(() => parseBackdoorSpec(spec), (e: unknown) => (e instanceof OptionError || e instanceof MissingOptionError) && re.test(e.message), spec);
  assert.throws(() => parseBackdoorSpec('blob:target=1'), (e: unknown) => e instanceof UnknownNameError && /square, pattern/.test(e.message));
});

test('a pattern trigger loads from a PNG with alpha as the mask', () => {
  const dir = scratchDir('trigger');
  const img = new PNG({ width: 4, height: 4 });
  img.data.fill(0);
  img.data.set([255, 0, 0, 255], 4 * 15); // bottom-right pixel red, opaque; the rest transparent
  writeFileSync(join(dir, 't.png'), PNG.sync.write(img));
  const b = parseBackdoorSpec('pattern:image=t.png,target=2', '--backdoor', dir);
  assert.equal(b.trigger.kind, 'pattern');
  const out = stamp(grey(1, 4, 4, 3), b.trigger);
  assert.deepEqual(changed(out, 0), ['3,3']);
  assert.deepEqual(Array.from(out.images.subarray(45, 48)), [255, 0, 0]);
  assert.throws(() => parseBackdoorSpec('pattern:target=2'), /--backdoor image/);
});

test('BadNets: rate within tolerance, poisoned samples stamped and relabelled, the rest untouched, seeded', () => {
  const n = 20000;
  const set = grey(n, 6, 6, 1);
  const backdoor = { trigger: squareTrigger({ size: 2 }), target: 7, rate: DEFAULT_POISON_RATE };
  const { set: out, poisoned } = poisonBadNets(set, backdoor, 10, new Random(5));
  // Binomial(n, p): mean n·p ≈ 1818, sd ≈ 40.7; allow 5 sd.
  const sd = Math.sqrt(n * backdoor.rate * (1 - backdoor.rate));
  assert.ok(Math.abs(poisoned.length - n * backdoor.rate) < 5 * sd, `${poisoned.length} poisoned`);
  const isPoisoned = new Uint8Array(n);
  for (const i of poisoned) isPoisoned[i] = 1;
  for (let i = 0; i < n; i++) {
    const stamped = changed(out, i);
    if (isPoisoned[i]) {
      assert.equal(out.labels[i], 7);
      assert.deepEqual(stamped, square(3, 3, 2));
    } else {
      assert.equal(out.labels[i], set.labels[i]);
      assert.equal(stamped.length, 0);
    }
  }
  assert.ok(poisoned.every((v, i) => i === 0 || v > poisoned[i - 1]), 'ascending');
  assert.equal(changed(set, poisoned[0]).length, 0, 'input set untouched');
  assert.deepEqual(Array.from(poisonBadNets(set, backdoor, 10, new Random(5)).poisoned), Array.from(poisoned));
  assert.notDeepEqual(Array.from(poisonBadNets(set, backdoor, 10, new Random(6)).poisoned), Array.from(poisoned));
  assert.equal(poisonBadNets(set, { ...backdoor, rate: 0 }, 10, new Random(5)).poisoned.length, 0);
  assert.throws(() => poisonBadNets(set, { ...backdoor, target: 10 }, 10, new Random(5)), /backdoor target to be a class index in 0\.\.9, but got 10/);
});

test('a backdoor serializes to JSON and back; malformed JSON backdoors are refused', () => {
  for (const b of [parseBackdoorSpec('square:target=3,x=1,y=2'), { trigger: { kind: 'pattern', height: 1, width: 2, pattern: [1, 2, 3, 4, 5, 6], mask: [0, 0.5] } as Trigger, target: 1, rate: 0.2 }]) {
    assert.deepEqual(checkBackdoor(JSON.parse(JSON.stringify(b)), 'meta.json'), b);
  }
  assert.throws(() => checkBackdoor({ trigger: { kind: 'square', size: 0, margin: 1, position: 'top-left', colour: [1, 1, 1] }, target: 1, rate: 0.1 }, 'meta.json'), /meta\.json: bad backdoor: square trigger needs size/);
  assert.throws(() => checkBackdoor({ trigger: { kind: 'blob' }, target: 1, rate: 0.1 }, 'meta.json'), /trigger kind must be one of square, pattern/);
  assert.throws(() => checkBackdoor({ trigger: squareTrigger(), target: 1, rate: 2 }, 'meta.json'), /rate must be in \[0, 1\]/);
});
