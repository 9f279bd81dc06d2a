/**
 * Enron-Spam, subset enron1 (Metsis et al. 2006): 3 672 ham and 1 500 spam emails as word-count
 * vectors, spam = +1 — the certified-defense paper's text task with small d.
 *
 * Source: the folder `enron1` (or the folder above it, or a folder holding `enron1.tar.gz`) or a
 * `.tar`/`.tar.gz` with `enron1/{ham,spam}/*.txt`.
 *
 * Split: the files sorted by path, permuted with the seed, the first ⌊0.8 n⌋ for training
 * (4 137 / 1 035 for enron1).
 *
 * Processing ({@link enronTokens}), the paper's recipe:
 * 1. decode as Latin-1 (a few spam files are not UTF-8), lower-case;
 * 2. split into runs of letters, digits and underscores (the Enron-Spam texts are already
 *    tokenized, with spaces around punctuation: "don ' t");
 * 3. drop non-alphabetic tokens (any digit or underscore), one-letter tokens (the release's
 *    CountVectorizer pattern `\w\w+` never saw them) and scikit-learn's English stop words;
 * 4. lemmatize with wink-lemmatizer (WordNet-based): the verb lemma when it differs from the word
 *    ("said" → "say", "forwarded" → "forward", "thanks" → "thank"), else the noun lemma ("prices" →
 *    "price"). The stop-word test is on the word before lemmatizing, as in the release, whose
 *    vocabulary holds "have", "get", "go" and "be";
 * 5. columns: by default the release's vocabulary `enron_vocab_koh.json` (4 822 words, word →
 *    column) when it is found beside the data; otherwise the lemmas with document frequency ≥ 5
 *    in the training split, in alphabetical order (CountVectorizer's order). Lemmas outside the
 *    vocabulary are dropped.
 * The release lemmatized with spaCy (part-of-speech aware); this is a dictionary approximation —
 * docs/DATA.md gives the overlap with the release's vocabulary.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import lemmatizer from 'wink-lemmatizer';
import { DataFormatError, NotFoundError, OptionError } from '../errors.js';
import { checkOneOf, checkPositiveInt } from '../options.js';
import { DEFAULT_SEED, Random } from '../random.js';
import { Counter, CsrBuilder } from './bag-of-words.js';
import { checkLabelled, type BinaryDataset, type LabelledFeatures } from './binary.js';
import type { CsrMatrix } from './matrix.js';
import { sharedDataDir } from './paths.js';
import { SKLEARN_ENGLISH_STOP_WORDS } from './stop-words.js';
import { isTarPath, walkTree } from './tar.js';

/** File name of the shared archive (under `<shared data>/enron1/`). */
export const ENRON_ARCHIVE = 'enron1.tar.gz';
/** File name of the follow-up release's vocabulary, looked for beside the data. */
export const ENRON_RELEASE_VOCABULARY = 'enron_vocab_koh.json';
/** The paper's split: 80 % train, 20 % test. */
export const ENRON_TRAIN_FRACTION = 0.8;
/** The paper's vocabulary rule: words in at least 5 training documents. */
export const ENRON_MIN_DOCUMENT_FREQUENCY = 5;

export const ENRON_VOCABULARY_MODES = ['auto', 'release', 'train'] as const;
export type EnronVocabularyMode = (typeof ENRON_VOCABULARY_MODES)[number];

/** Options of {@link loadEnron}. */
export interface EnronOptions {
  /** Seed of the train/test permutation. */
  readonly seed?: number;
  /**
   * 'release': the release's vocabulary json (error when absent); 'train': lemmas with document
   * frequency ≥ `minDocumentFrequency` in the training split; 'auto' (default): 'release' when the
   * json is found, else 'train'.
   */
  readonly vocabulary?: EnronVocabularyMode;
  /** Path of the vocabulary json; by default `enron_vocab_koh.json` beside the data. */
  readonly vocabularyFile?: string;
  /** Minimum document frequency of a column in 'train' mode. */
  readonly minDocumentFrequency?: number;
  /** Share of the emails used for training. */
  readonly trainFraction?: number;
}

/** Token counts behind the matrices. */
export interface EnronTokenStats {
  readonly documents: number;
  /** Alphabetic tokens of two letters or more, stop words included. */
  readonly tokens: number;
  /** Of those, the ones left after stop words (and lemmatized). */
  readonly contentTokens: number;
  /** Content tokens whose lemma is a column (the sum of all counts). */
  readonly vocabularyHits: number;
  /** Emails none of whose lemmas is a column (all-zero rows). */
  readonly emptyRows: number;
}

/** Enron with what the counts were built from. */
export interface EnronDataset extends BinaryDataset {
  readonly train: LabelledFeatures & { readonly X: CsrMatrix };
  readonly test: LabelledFeatures & { readonly X: CsrMatrix };
  /** Column j counts the lemma `vocabulary[j]`. */
  readonly vocabulary: readonly string[];
  /** Which vocabulary was used, and from where. */
  readonly vocabularySource: { readonly mode: 'release'; readonly file: string } | { readonly mode: 'train'; readonly minDocumentFrequency: number };
  /** Paths of the emails, row by row. */
  readonly trainFiles: readonly string[];
  readonly testFiles: readonly string[];
  readonly stats: EnronTokenStats;
}

const EMAIL = /^(?:(.*)\/)?(ham|spam)\/[^/]+\.txt$/;
const RUN = /[a-z0-9_]+/g;
const ALPHABETIC = /^[a-z]+$/;

const lemmaCache = new Map<string, string>();

/** The lemma of a lower-case word (see the module comment, step 4). */
export function enronLemma(word: string): string {
  let l = lemmaCache.get(word);
  if (l === undefined) {
    const verb = lemmatizer.verb(word);
    l = verb !== word ? verb : lemmatizer.noun(word);
    lemmaCache.set(word, l);
  }
  return l;
}

/** The processed tokens (lemmas) of one email, before the vocabulary is applied; steps 1–4. */
export function enronTokens(text: string): { lemmas: string[]; tokens: number } {
  const lemmas: string[] = [];
  let tokens = 0;
  for (const m of text.toLowerCase().matchAll(RUN)) {
    const w = m[0];
    if (w.length < 2 || !ALPHABETIC.test(w)) continue;
    tokens++;
    if (SKLEARN_ENGLISH_STOP_WORDS.has(w)) continue;
    lemmas.push(enronLemma(w));
  }
  return { lemmas, tokens };
}

/** Parses the release's vocabulary json: word → column, columns exactly 0..V−1. */
export function parseEnronVocabulary(text: string, name: string): string[] {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new DataFormatError(name, `not valid JSON (${(e as Error).message}).`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new DataFormatError(name, 'expected a JSON object mapping each word to its column number.');
  }
  const entries = Object.entries(obj as Record<string, unknown>);
  const words = new Array<string>(entries.length);
  for (const [word, col] of entries) {
    if (typeof col !== 'number' || !Number.isInteger(col) || col < 0 || col >= entries.length) {
      throw new DataFormatError(name, `the column of '${word}' is ${JSON.stringify(col)}; columns must be the integers 0..${entries.length - 1}.`, {
        expected: `an integer in [0, ${entries.length - 1}]`,
        received: col,
      });
    }
    if (words[col] !== undefined) throw new DataFormatError(name, `column ${col} is given to both '${words[col]}' and '${word}'.`);
    words[col] = word;
  }
  return words;
}

interface Email {
  readonly path: string;
  readonly spam: boolean;
  readonly lemmas: string[];
}

/**
 * Loads enron1 from a folder or tar(.gz); by default from the shared data folder
 * (`<shared>/enron1/enron1.tar.gz`, with `enron_vocab_koh.json` beside it).
 */
export function loadEnron(dataDir?: string, options: EnronOptions = {}): EnronDataset {
  const seed = options.seed ?? DEFAULT_SEED;
  const mode = checkOneOf('vocabulary', options.vocabulary ?? 'auto', ENRON_VOCABULARY_MODES);
  const minDf = checkPositiveInt('minDocumentFrequency', options.minDocumentFrequency ?? ENRON_MIN_DOCUMENT_FREQUENCY);
  const trainFraction = options.trainFraction ?? ENRON_TRAIN_FRACTION;
  if (!(trainFraction > 0 && trainFraction < 1)) throw new OptionError('trainFraction', 'in (0, 1)', trainFraction);
  const source = resolveEnronSource(dataDir);
  const archive = !statSync(source).isDirectory();
  const where = (path: string): string => (archive ? `${source} (member ${path})` : join(source, path));

  const emails: Email[] = [];
  let tokens = 0;
  let contentTokens = 0;
  for (const entry of walkTree(source, { filter: (p) => EMAIL.test(p) })) {
    const m = EMAIL.exec(entry.path) as RegExpExecArray;
    const text = Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength).toString('latin1');
    if (text.trim() === '') throw new DataFormatError(where(entry.path), 'the email is empty (a truncated file or a damaged archive?).');
    const t = enronTokens(text);
    tokens += t.tokens;
    contentTokens += t.lemmas.length;
    emails.push({ path: entry.path, spam: m[2] === 'spam', lemmas: t.lemmas });
  }
  if (emails.length === 0) throw new DataFormatError(source, 'holds no emails (expected enron1/ham/*.txt and enron1/spam/*.txt).');
  if (!emails.some((e) => e.spam) || emails.every((e) => e.spam)) {
    throw new DataFormatError(source, `holds ${emails.filter((e) => e.spam).length} spam and ${emails.filter((e) => !e.spam).length} ham emails; both classes are needed.`);
  }
  emails.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  const perm = new Random(seed).permutation(emails.length);
  const nTrain = Math.floor(trainFraction * emails.length);
  if (nTrain === 0 || nTrain === emails.length) {
    throw new DataFormatError(source, `${emails.length} emails cannot be split ${trainFraction} / ${1 - trainFraction} into two non-empty sets.`);
  }
  const trainEmails = Array.from(perm.subarray(0, nTrain), (i) => emails[i]);
  const testEmails = Array.from(perm.subarray(nTrain), (i) => emails[i]);

  const vocabFile = options.vocabularyFile ?? findReleaseVocabulary(source);
  let vocabulary: string[];
  let vocabularySource: EnronDataset['vocabularySource'];
  if (mode === 'release' || (mode === 'auto' && vocabFile !== undefined && existsSync(vocabFile))) {
    if (vocabFile === undefined || !existsSync(vocabFile)) {
      throw new NotFoundError(vocabFile ?? join(dirname(source), ENRON_RELEASE_VOCABULARY), 'Enron vocabulary file', "Pass vocabularyFile, or use vocabulary 'train' to build one from the training split");
    }
    vocabulary = parseEnronVocabulary(readFileSync(vocabFile, 'utf8'), vocabFile);
    vocabularySource = { mode: 'release', file: vocabFile };
  } else {
    vocabulary = buildVocabulary(trainEmails, minDf);
    vocabularySource = { mode: 'train', minDocumentFrequency: minDf };
  }

  const column = new Map<string, number>();
  vocabulary.forEach((w, j) => column.set(w, j));
  const counter = new Counter(vocabulary.length);
  let vocabularyHits = 0;
  let emptyRows = 0;
  const vectorize = (set: readonly Email[], what: string): LabelledFeatures & { X: CsrMatrix } => {
    const builder = new CsrBuilder(vocabulary.length);
    const y = new Int8Array(set.length);
    set.forEach((e, i) => {
      for (const l of e.lemmas) {
        const j = column.get(l);
        if (j === undefined) continue;
        counter.add(j);
        vocabularyHits++;
      }
      if (counter.size === 0) emptyRows++;
      counter.flushInto(builder);
      y[i] = e.spam ? 1 : -1;
    });
    return checkLabelled({ X: builder.finish(), y }, what) as LabelledFeatures & { X: CsrMatrix };
  };
  const train = vectorize(trainEmails, 'Enron train');
  const test = vectorize(testEmails, 'Enron test');
  return {
    name: 'enron',
    source,
    positive: 'spam',
    negative: 'ham',
    features:
      vocabularySource.mode === 'release'
        ? `lemma counts over the release vocabulary ${ENRON_RELEASE_VOCABULARY} (${vocabulary.length} words)`
        : `lemma counts, ${vocabulary.length} lemmas with document frequency >= ${minDf} in the training split`,
    train,
    test,
    vocabulary,
    vocabularySource,
    trainFiles: trainEmails.map((e) => e.path),
    testFiles: testEmails.map((e) => e.path),
    stats: { documents: emails.length, tokens, contentTokens, vocabularyHits, emptyRows },
  };
}

/** Lemmas in at least `minDf` of the documents, sorted. */
function buildVocabulary(docs: readonly Email[], minDf: number): string[] {
  const df = new Map<string, number>();
  for (const d of docs) for (const l of new Set(d.lemmas)) df.set(l, (df.get(l) ?? 0) + 1);
  return [...df].filter(([, n]) => n >= minDf).map(([w]) => w).sort();
}

/** The release vocabulary beside the data: next to the archive, in the folder, or above it. */
function findReleaseVocabulary(source: string): string | undefined {
  const dirs = statSync(source).isDirectory() ? [source, dirname(source)] : [dirname(source)];
  for (const d of dirs) {
    const f = join(d, ENRON_RELEASE_VOCABULARY);
    if (existsSync(f)) return f;
  }
  return undefined;
}

/** The folder or archive to read: `dataDir` itself, the archive inside it, or the shared copy. */
export function resolveEnronSource(dataDir?: string): string {
  if (dataDir === undefined) {
    const shared = sharedDataDir();
    const candidate = shared === undefined ? undefined : join(shared, 'enron1', ENRON_ARCHIVE);
    if (candidate === undefined || !existsSync(candidate)) {
      throw new NotFoundError(
        candidate ?? join('..', 'shared', 'data', 'enron1', ENRON_ARCHIVE),
        'Enron archive',
        'Pass --data-dir with the enron1 folder or its .tar.gz, or set POISONGUARD_DATA to the shared data folder',
      );
    }
    return candidate;
  }
  if (!existsSync(dataDir)) throw new NotFoundError(dataDir, 'Enron folder or archive', 'Pass the enron1 folder (ham/, spam/) or a .tar/.tar.gz of it');
  if (statSync(dataDir).isDirectory()) {
    const hasTree = existsSync(join(dataDir, 'ham')) || existsSync(join(dataDir, 'enron1', 'ham'));
    const archive = join(dataDir, ENRON_ARCHIVE);
    if (!hasTree && existsSync(archive)) return archive;
    return dataDir;
  }
  if (!isTarPath(dataDir)) throw new DataFormatError(dataDir, 'expected the enron1 folder or a .tar / .tar.gz / .tgz archive of it.');
  return dataDir;
}
