/**
 * The CLI's backdoor specs (`train --backdoor`, `--trigger`): KIND[:key=value,…]. Kinds and keys:
 *   square:size=4,pos=bottom-right,margin=1,colour=white|x=…,y=…,target=7,rate=0.091   (BadNets)
 *   pattern:image=FILE[,mask=FILE],target=7[,rate=…]
 *   blend:target=3[,alpha=0.2][,image=FILE|seed=0][,rate=…]           (Chen et al. 2017)
 *   sig:target=3[,delta=20][,f=6][,test-delta=Δ][,rate=1]              (Barni et al. 2019, clean-label)
 *   wanet:target=3[,k=4][,s=0.5][,cross=2][,seed=0][,rate=0.1]         (Nguyen & Tran 2021)
 *   all-to-all[:square's keys but target][,rate=…]                     (y → y + 1 mod K)
 * Every value is checked here, with the flag and the key in the message.
 */
import { resolve as resolvePath } from 'node:path';
import { decodeImageFile } from '../data/image-files.js';
import { MissingOptionError, OptionError, UnknownNameError } from '../errors.js';
import { DEFAULT_BLEND_ALPHA, DEFAULT_BLEND_NOISE_SEED } from './attacks/blend.js';
import { DEFAULT_SIG_DELTA, DEFAULT_SIG_FREQUENCY, DEFAULT_SIG_RATE } from './attacks/sig.js';
import { DEFAULT_WANET_CROSS_RATIO, DEFAULT_WANET_GRID, DEFAULT_WANET_RATE, DEFAULT_WANET_SEED, DEFAULT_WANET_STRENGTH } from './attacks/wanet.js';
import {
  DEFAULT_POISON_RATE,
  DEFAULT_TRIGGER_POSITION,
  isAllToAll,
  loadPatternTrigger,
  NAMED_COLOURS,
  NAMED_POSITIONS,
  squareTrigger,
  type Attack,
  type Backdoor,
  type NamedPosition,
  type SquareTrigger,
  type Trigger,
} from './trigger.js';

/** The kinds `--backdoor` takes. */
export const ATTACK_KINDS = ['square', 'pattern', 'blend', 'sig', 'wanet', 'all-to-all'] as const;
export type AttackKind = (typeof ATTACK_KINDS)[number];

const SQUARE_KEYS = ['size', 'pos', 'margin', 'x', 'y', 'colour'] as const;
const KEYS: Readonly<Record<AttackKind, readonly string[]>> = {
  square: [...SQUARE_KEYS, 'target', 'rate'],
  pattern: ['image', 'mask', 'target', 'rate'],
  blend: ['alpha', 'image', 'seed', 'target', 'rate'],
  sig: ['delta', 'f', 'test-delta', 'target', 'rate'],
  wanet: ['k', 's', 'cross', 'seed', 'target', 'rate'],
  'all-to-all': [...SQUARE_KEYS, 'rate'],
};
const KEY_ALIASES: Readonly<Record<string, string>> = { position: 'pos', color: 'colour', frequency: 'f', 'cross-ratio': 'cross' };
/** Each kind's poisoning rate when `rate` is not given (the paper's where it names one). */
const DEFAULT_RATES: Readonly<Record<AttackKind, number>> = {
  square: DEFAULT_POISON_RATE,
  pattern: DEFAULT_POISON_RATE,
  blend: DEFAULT_POISON_RATE,
  sig: DEFAULT_SIG_RATE,
  wanet: DEFAULT_WANET_RATE,
  'all-to-all': DEFAULT_POISON_RATE,
};

/** Parses a backdoor to one target (`--trigger` of evaluate/scan); all-to-all is refused. */
export function parseBackdoorSpec(spec: string, option = '--backdoor', cwd = process.cwd()): Backdoor {
  const attack = parseAttackSpec(spec, option, cwd);
  if (isAllToAll(attack)) throw new OptionError(`${option} kind`, 'a trigger with one target (all-to-all has none)', 'all-to-all');
  return attack;
}

/** Parses one `--backdoor` spec; `option` names the flag in errors. Relative file paths resolve against `cwd`. */
export function parseAttackSpec(spec: string, option = '--backdoor', cwd = process.cwd()): Attack {
  const colon = spec.indexOf(':');
  const kind = (colon < 0 ? spec : spec.slice(0, colon)).trim() as AttackKind;
  const body = colon < 0 ? '' : spec.slice(colon + 1);
  if (!(ATTACK_KINDS as readonly string[]).includes(kind)) throw new UnknownNameError(`${option} trigger kind`, kind, ATTACK_KINDS);
  const allowed = KEYS[kind];
  const values = new Map<string, string>();
  for (const part of body.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) throw new OptionError(`${option} '${part.trim()}'`, 'key=value', part.trim());
    const rawKey = part.slice(0, eq).trim();
    const key = KEY_ALIASES[rawKey] ?? rawKey;
    const value = part.slice(eq + 1).trim();
    if (!allowed.includes(key)) throw new OptionError(`${option} key`, `one of ${allowed.join(', ')} for a ${kind} trigger`, rawKey);
    if (values.has(key)) throw new OptionError(`${option} ${key}`, 'given once', `${key} given twice`);
    values.set(key, value);
  }
  /** The integer value of `key` (≥ min), or undefined when absent. */
  const int = (key: string, min: number, expected: string): number | undefined => {
    const raw = values.get(key);
    if (raw === undefined) return undefined;
    const v = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(v) || v < min) throw new OptionError(`${option} ${key}`, expected, raw);
    return v;
  };
  /** The number value of `key` when `ok` holds, `fallback` when absent. */
  const num = (key: string, fallback: number, ok: (v: number) => boolean, expected: string): number => {
    const raw = values.get(key);
    if (raw === undefined) return fallback;
    const v = raw === '' ? NaN : Number(raw);
    if (!Number.isFinite(v) || !ok(v)) throw new OptionError(`${option} ${key}`, expected, raw);
    return v;
  };
  const rate = num('rate', DEFAULT_RATES[kind], (v) => v >= 0 && v <= 1, kind === 'sig' ? 'a number in [0, 1] (the share of the target class poisoned)' : 'a number in [0, 1]');
  const file = (key: string): string | undefined => (values.has(key) ? resolvePath(cwd, values.get(key)!) : undefined);

  if (kind === 'all-to-all') return { trigger: parseSquare(values, option, spec, int), mapping: 'all-to-all', rate };
  const target = int('target', 0, 'a non-negative integer (a class index)');
  if (target === undefined) throw new MissingOptionError(`${option} target`, 'target=LABEL, the label the trigger sends inputs to');
  let trigger: Trigger;
  switch (kind) {
    case 'square':
      trigger = parseSquare(values, option, spec, int);
      break;
    case 'pattern': {
      const image = file('image');
      if (!image) throw new OptionError(`${option} image`, 'the path of the pattern image (image=FILE)', values.get('image'));
      trigger = loadPatternTrigger(image, file('mask'));
      break;
    }
    case 'blend': {
      const alpha = num('alpha', DEFAULT_BLEND_ALPHA, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
      if (values.has('image') && values.has('seed')) throw new OptionError(`${option} image,seed`, 'one of the two (a key image, or the seed of a noise key)', spec);
      const image = file('image');
      if (image !== undefined) {
        const img = decodeImageFile(image);
        trigger = { kind: 'blend', alpha, key: { height: img.height, width: img.width, rgb: Array.from(img.rgb), source: image } };
      } else {
        trigger = { kind: 'blend', alpha, key: { noiseSeed: int('seed', 0, 'a non-negative integer') ?? DEFAULT_BLEND_NOISE_SEED } };
      }
      break;
    }
    case 'sig':
      trigger = {
        kind: 'sig',
        delta: num('delta', DEFAULT_SIG_DELTA, (v) => v > 0 && v <= 255, 'a number in (0, 255] (raw pixel units)'),
        frequency: num('f', DEFAULT_SIG_FREQUENCY, (v) => v > 0, 'a positive number (periods across the width)'),
        ...(values.has('test-delta') ? { testDelta: num('test-delta', 0, (v) => v > 0 && v <= 255, 'a number in (0, 255] (raw pixel units)') } : {}),
      };
      break;
    case 'wanet':
      trigger = {
        kind: 'wanet',
        grid: int('k', 2, 'an integer ≥ 2 (the control grid size)') ?? DEFAULT_WANET_GRID,
        strength: num('s', DEFAULT_WANET_STRENGTH, (v) => v > 0, 'a positive number (the warping strength)'),
        crossRatio: num('cross', DEFAULT_WANET_CROSS_RATIO, (v) => v >= 0, 'a non-negative number (noise-mode images per poisoned image)'),
        seed: int('seed', 0, 'a non-negative integer') ?? DEFAULT_WANET_SEED,
      };
      if (rate * (1 + trigger.crossRatio) > 1) throw new OptionError(`${option} rate`, `at most 1/(1 + cross) = ${(1 / (1 + trigger.crossRatio)).toFixed(3)} (poisoned and noise-mode images together)`, rate);
      break;
  }
  return { trigger, target, rate };
}

/** A square trigger from the spec's square keys (pos/margin or x,y; size; colour). */
function parseSquare(values: Map<string, string>, option: string, spec: string, int: (key: string, min: number, expected: string) => number | undefined): SquareTrigger {
  const hasXY = values.has('x') || values.has('y');
  if (hasXY && (values.has('pos') || values.has('margin'))) {
    throw new OptionError(`${option} x,y`, 'used without pos and margin (they place the square two different ways)', spec);
  }
  if (hasXY && !(values.has('x') && values.has('y'))) throw new OptionError(`${option} x,y`, 'given together', values.has('x') ? 'x only' : 'y only');
  let position: SquareTrigger['position'] = DEFAULT_TRIGGER_POSITION;
  if (hasXY) {
    position = { x: int('x', 0, 'a non-negative integer')!, y: int('y', 0, 'a non-negative integer')! };
  } else if (values.has('pos')) {
    const pos = values.get('pos')!;
    const name = pos === 'center' ? 'centre' : pos;
    if (!(NAMED_POSITIONS as readonly string[]).includes(name)) throw new OptionError(`${option} pos`, `one of ${NAMED_POSITIONS.join(', ')} (or x=…,y=…)`, pos);
    position = name as NamedPosition;
  }
  const size = int('size', 1, 'a positive integer');
  const margin = int('margin', 0, 'a non-negative integer');
  const colour = values.has('colour') ? parseColour(`${option} colour`, values.get('colour')!) : undefined;
  return squareTrigger({ ...(size !== undefined ? { size } : {}), position, ...(margin !== undefined ? { margin } : {}), ...(colour ? { colour } : {}) });
}

/** Parses 'white', 'black', 'red', 'green', 'blue', '#rrggbb', 'R:G:B' or a grey level '0'..'255'. */
export function parseColour(name: string, raw: string): number[] {
  if (Object.hasOwn(NAMED_COLOURS, raw.toLowerCase())) return [...NAMED_COLOURS[raw.toLowerCase()]];
  const expected = `${Object.keys(NAMED_COLOURS).join(', ')}, #rrggbb, R:G:B or a grey level 0..255`;
  if (/^#[0-9a-fA-F]{6}$/.test(raw)) return [1, 3, 5].map((i) => parseInt(raw.slice(i, i + 2), 16));
  const parts = raw.split(':');
  if ((parts.length === 1 || parts.length === 3) && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    const v = parts.map(Number);
    return v.length === 1 ? [v[0], v[0], v[0]] : v;
  }
  throw new OptionError(name, expected, raw);
}
