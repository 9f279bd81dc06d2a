/**
 * IMDB (Large Movie Review Dataset v1, Maas et al. 2011) as bag-of-words counts over the release's
 * vocabulary `imdb.vocab`: 25 000 train and 25 000 test reviews, label +1 when the star rating in
 * the file name is above 5. The certified-defense paper used the release's `labeledBow.feat`
 * counts; those files are not in the shared copy, so the counts are rebuilt here from the texts.
 *
 * Source: the folder `aclImdb` (or the folder above it) or a `.tar`/`.tar.gz` of it, with
 * `aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt` and `aclImdb/imdb.vocab`.
 *
 * Columns: one per line of `imdb.vocab`, in file order (column 0 = "the"). The file has 89 527
 * words but no newline after the last one ("investigator-like"), so `wc -l` counts 89 526 — the
 * number the data README quotes; the release's d = 89 527 is the true word count.
 *
 * Rows: per split, the positive reviews by id, then the negative reviews by id — the row order of
 * the release's `labeledBow.feat` (its first rows are train/pos/0_9, 1_7, 2_9, …).
 *
 * Tokenization ({@link tokenizeImdbReview}), reverse-engineered from imdb.vocab and checked against
 * published rows of train/labeledBow.feat (see docs/DATA.md, "IMDB"):
 * 1. lower-case the text;
 * 2. delete "'s" at the end of a word ("high's" → "high"; the vocabulary has no "it's", "that's" and
 *    no word ending in 's, while "don't", "i'm", "you'll" are there);
 * 3. replace HTML tags such as `<br />` by a space;
 * 4. an emoticon that touches no letter or digit is one token (Christopher Potts's sentiment-
 *    tokenizer pattern, which is why "do:", "(8" and "8)" are vocabulary words; "too!);" holds the
 *    emoticon ");", "(1972):" holds none);
 * 5. otherwise split into words — letters and digits joined by single apostrophes or hyphens
 *    ("don't", "sci-fi", "over-the-top", "3-d"; "pit--or" is two words) — and any other single
 *    non-space character ("!", "?", ".");
 * 6. count the tokens that are vocabulary words; the others (numbers, "3-d", punctuation other than
 *    "!" and "?") are dropped.
 * On the published rows compared, the counts match exactly.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError, NotFoundError } from '../errors.js';
import { checkFinite } from '../options.js';
import { checkLabelled, type BinaryDataset, type LabelledFeatures } from './binary.js';
import type { CsrMatrix } from './matrix.js';
import { Counter, CsrBuilder } from './bag-of-words.js';
import { sharedDataDir } from './paths.js';
import { isTarPath, walkTree } from './tar.js';

/** File name of the shared archive (under `<shared data>/imdb/`). */
export const IMDB_ARCHIVE = 'aclImdb_v1_labeled_text.tar.gz';
/** A review is positive when its rating (1..10) is above this (the release: pos ≥ 7, neg ≤ 4). */
export const IMDB_POSITIVE_ABOVE = 5;
/** Number of words of the release's imdb.vocab, i.e. d. */
export const IMDB_VOCABULARY_SIZE = 89_527;

/** Options of {@link loadImdb}. */
export interface ImdbOptions {
  /** Label +1 when the rating is above this; {@link IMDB_POSITIVE_ABOVE} by default. */
  readonly positiveAbove?: number;
  /** Called as reviews are vectorized (done, total). */
  readonly onProgress?: (done: number, total: number) => void;
}

/** How the rebuilt counts relate to the texts, for the documentation and the reports. */
export interface ImdbTokenStats {
  readonly reviews: number;
  /** Tokens of every kind (words, punctuation, emoticons); HTML tags are not tokens. */
  readonly tokens: number;
  /** Tokens of the word pattern (letters and digits); the vocabulary consists of these, '!', '?' and emoticons. */
  readonly wordTokens: number;
  /** Tokens found in the vocabulary, i.e. the sum of all counts. */
  readonly vocabularyHits: number;
  /** Word tokens found in the vocabulary. */
  readonly wordHits: number;
  /** Reviews none of whose tokens is a vocabulary word (all-zero rows). */
  readonly emptyRows: number;
  /** Vocabulary words that occur in no review of either split (the vocabulary also covered the unlabelled reviews). */
  readonly unusedColumns: number;
}

/** IMDB with what the counts were built from. */
export interface ImdbDataset extends BinaryDataset {
  readonly train: LabelledFeatures & { readonly X: CsrMatrix };
  readonly test: LabelledFeatures & { readonly X: CsrMatrix };
  /** Column j counts `vocabulary[j]`. */
  readonly vocabulary: readonly string[];
  /** Review ids and star ratings, row by row. */
  readonly trainIds: Int32Array;
  readonly trainRatings: Uint8Array;
  readonly testIds: Int32Array;
  readonly testRatings: Uint8Array;
  readonly stats: ImdbTokenStats;
}

const REVIEW = /^(?:(.*)\/)?(train|test)\/(pos|neg)\/(\d+)_(\d+)\.txt$/;
const VOCAB = /^(?:(.*)\/)?imdb\.vocab$/;
const VOCAB_MEMBER = 'aclImdb/imdb.vocab';

/** Python's [^\W_]: letters and digits of any script (the vocabulary holds "cliché", "½"). */
const ALNUM = String.raw`\p{L}\p{N}`;
/** Potts's emoticon pattern: eyes, optional nose, mouth — or the mirror image. */
const EMOTICON = String.raw`[<>]?[:;=8][\-o*']?[)\](\[dDpP/:}{@|\\]|[)\](\[dDpP/:}{@|\\][\-o*']?[:;=8][<>]?`;
const HTML_TAG = /<[^>]+>/g;
const WORD = `[${ALNUM}]+(?:['\\-][${ALNUM}]+)*`;
/** An emoticon not glued to a letter or digit on either side; else words and single characters. */
const TOKEN = new RegExp(`(?<![\\p{L}\\p{N}_])(${EMOTICON})(?![\\p{L}\\p{N}_])|(${WORD})|\\S`, 'gu');
/** Characters that Python counts as whitespace and JavaScript's \s does not (NEL, the separators). */
const PYTHON_ONLY_SPACE = /[\x1c-\x1f\x85]/g;
/** "'s" followed by no word character (Python's \b after "s"). */
const POSSESSIVE = /'s(?![\p{L}\p{N}_])/gu;

/** The tokens of one review (see the module comment). */
export function tokenizeImdbReview(text: string): string[] {
  return Array.from(prepare(text).matchAll(TOKEN), (m) => m[0]);
}

function prepare(text: string): string {
  return text.toLowerCase().replace(POSSESSIVE, '').replace(HTML_TAG, ' ').replace(PYTHON_ONLY_SPACE, ' ');
}

/** The words of imdb.vocab, one per line; a missing final newline is normal. */
export function parseImdbVocabulary(text: string, name: string): string[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const seen = new Set<string>();
  lines.forEach((w, i) => {
    if (w === '') throw new DataFormatError(name, `line ${i + 1} of the vocabulary is empty.`, { position: i + 1 });
    if (seen.has(w)) throw new DataFormatError(name, `line ${i + 1}: the word '${w}' appears twice in the vocabulary.`, { position: i + 1 });
    seen.add(w);
  });
  if (lines.length === 0) throw new DataFormatError(name, 'the vocabulary is empty.');
  return lines;
}

interface Review {
  readonly split: 'train' | 'test';
  readonly positiveFolder: boolean;
  readonly id: number;
  readonly rating: number;
  readonly path: string;
  readonly prefix: string;
  readonly data: Uint8Array;
}

/**
 * Loads IMDB from a folder or tar(.gz); by default from the shared data folder
 * (`<shared>/imdb/aclImdb_v1_labeled_text.tar.gz`).
 */
export function loadImdb(dataDir?: string, options: ImdbOptions = {}): ImdbDataset {
  const positiveAbove = checkFinite('positiveAbove', options.positiveAbove ?? IMDB_POSITIVE_ABOVE);
  const source = resolveImdbSource(dataDir);
  const archive = !statSync(source).isDirectory();
  const where = (path: string): string => (archive ? `${source} (member ${path})` : join(source, path));

  const reviews: Review[] = [];
  const vocabs: { prefix: string; path: string; data: Uint8Array }[] = [];
  for (const entry of walkTree(source, { filter: (p) => REVIEW.test(p) || VOCAB.test(p) })) {
    const v = VOCAB.exec(entry.path);
    if (v) {
      vocabs.push({ prefix: v[1] ?? '', path: entry.path, data: entry.data });
      continue;
    }
    const m = REVIEW.exec(entry.path) as RegExpExecArray;
    reviews.push({
      prefix: m[1] ?? '',
      split: m[2] as 'train' | 'test',
      positiveFolder: m[3] === 'pos',
      id: Number(m[4]),
      rating: Number(m[5]),
      path: entry.path,
      data: entry.data,
    });
  }
  if (vocabs.length === 0) {
    throw new DataFormatError(source, `has no vocabulary file ${archive ? `member ${VOCAB_MEMBER}` : 'imdb.vocab (aclImdb/imdb.vocab)'}; the IMDB columns are the words of that file.`, {
      expected: VOCAB_MEMBER,
    });
  }
  // The shortest prefix wins: in a folder holding aclImdb/, that is aclImdb/ itself.
  vocabs.sort((a, b) => a.prefix.length - b.prefix.length);
  const vocabEntry = vocabs[0];
  const vocabulary = parseImdbVocabulary(Buffer.from(vocabEntry.data).toString('utf8'), where(vocabEntry.path));
  const mine = reviews.filter((r) => r.prefix === vocabEntry.prefix);
  if (mine.length === 0) {
    throw new DataFormatError(source, `holds no reviews beside ${vocabEntry.path} (expected ${vocabEntry.prefix ? `${vocabEntry.prefix}/` : ''}{train,test}/{pos,neg}/<id>_<rating>.txt).`);
  }

  const column = new Map<string, number>();
  vocabulary.forEach((w, j) => column.set(w, j));
  const used = new Uint8Array(vocabulary.length);
  const counter = new Counter(vocabulary.length);
  const decoder = new TextDecoder('utf-8');
  const stats = { reviews: 0, tokens: 0, wordTokens: 0, vocabularyHits: 0, wordHits: 0, emptyRows: 0 };
  const total = mine.length;
  let done = 0;

  const buildSplit = (split: 'train' | 'test'): { set: LabelledFeatures & { X: CsrMatrix }; ids: Int32Array; ratings: Uint8Array } => {
    const rows = mine
      .filter((r) => r.split === split)
      .sort((a, b) => (a.positiveFolder === b.positiveFolder ? a.id - b.id : a.positiveFolder ? -1 : 1));
    const builder = new CsrBuilder(vocabulary.length);
    const y = new Int8Array(rows.length);
    const ids = new Int32Array(rows.length);
    const ratings = new Uint8Array(rows.length);
    rows.forEach((r, i) => {
      if (!(r.rating >= 1 && r.rating <= 10)) throw new DataFormatError(where(r.path), `the rating ${r.rating} in the file name is not in 1..10.`);
      if (r.positiveFolder !== r.rating > IMDB_POSITIVE_ABOVE) {
        throw new DataFormatError(where(r.path), `a review rated ${r.rating} does not belong in the ${r.positiveFolder ? 'pos' : 'neg'}/ folder (pos holds ratings 7..10, neg 1..4).`);
      }
      const text = decoder.decode(r.data);
      if (text.trim() === '') throw new DataFormatError(where(r.path), 'the review is empty; every aclImdb review has text (a truncated file or a damaged archive?).');
      for (const m of prepare(text).matchAll(TOKEN)) {
        stats.tokens++;
        const isWord = m[2] !== undefined;
        if (isWord) stats.wordTokens++;
        const j = column.get(m[0]);
        if (j === undefined) continue;
        stats.vocabularyHits++;
        if (isWord) stats.wordHits++;
        counter.add(j);
      }
      if (counter.size === 0) stats.emptyRows++;
      counter.flushInto(builder, used);
      y[i] = r.rating > positiveAbove ? 1 : -1;
      ids[i] = r.id;
      ratings[i] = r.rating;
      stats.reviews++;
      done++;
      if (options.onProgress && (done % 1000 === 0 || done === total)) options.onProgress(done, total);
    });
    const set = { X: builder.finish(), y };
    checkLabelled(set, `IMDB ${split}`);
    return { set, ids, ratings };
  };

  const train = buildSplit('train');
  const test = buildSplit('test');
  let unused = 0;
  for (let j = 0; j < used.length; j++) if (used[j] === 0) unused++;
  return {
    name: 'imdb',
    source,
    positive: `positive review (rating > ${positiveAbove})`,
    negative: `negative review (rating <= ${positiveAbove})`,
    features: `word counts over imdb.vocab (${vocabulary.length} words)`,
    train: train.set,
    test: test.set,
    vocabulary,
    trainIds: train.ids,
    trainRatings: train.ratings,
    testIds: test.ids,
    testRatings: test.ratings,
    stats: { ...stats, unusedColumns: unused },
  };
}

/** The folder or archive to read: `dataDir` itself, the archive inside it, or the shared copy. */
export function resolveImdbSource(dataDir?: string): string {
  if (dataDir === undefined) {
    const shared = sharedDataDir();
    const candidate = shared === undefined ? undefined : join(shared, 'imdb', IMDB_ARCHIVE);
    if (candidate === undefined || !existsSync(candidate)) {
      throw new NotFoundError(
        candidate ?? join('..', 'shared', 'data', 'imdb', IMDB_ARCHIVE),
        'IMDB archive',
        'Pass --data-dir with the aclImdb folder or its .tar.gz, or set POISONGUARD_DATA to the shared data folder',
      );
    }
    return candidate;
  }
  if (!existsSync(dataDir)) throw new NotFoundError(dataDir, 'IMDB folder or archive', 'Pass the aclImdb folder or a .tar/.tar.gz of it');
  if (statSync(dataDir).isDirectory()) {
    const hasTree = existsSync(join(dataDir, 'imdb.vocab')) || existsSync(join(dataDir, 'aclImdb'));
    const archive = join(dataDir, IMDB_ARCHIVE);
    if (!hasTree && existsSync(archive)) return archive;
    return dataDir;
  }
  if (!isTarPath(dataDir)) throw new DataFormatError(dataDir, 'expected the aclImdb folder or a .tar / .tar.gz / .tgz archive of it.');
  return dataDir;
}
