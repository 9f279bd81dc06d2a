import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { IMDB_ARCHIVE, IMDB_VOCABULARY_SIZE, loadImdb, tokenizeImdbReview } from '../../src/data/imdb.js';
import { loadBinaryDataset } from '../../src/data/registry.js';
import { encodeTar } from '../../src/data/tar.js';
import { DataFormatError } from '../../src/errors.js';
import { scratchDir, sharedData } from '../helpers.js';

test('IMDB tokenizer: lower case, "\'s" removed, free-standing emoticons, hyphen/apostrophe words, tags dropped', () => {
  assert.deepEqual(tokenizeImdbReview('Hey! the story is you :D do: it--now (8/10) <br />Mr. Smith\'s "sci-fi" ½'), [
    'hey', '!', 'the', 'story', 'is', 'you', ':d', 'do:', 'it', '-', '-', 'now', '(8', '/', '10', ')', 'mr', '.', 'smith', '"', 'sci-fi', '"', '½',
  ]);
  // An emoticon must not touch a letter or digit: none in "(1972):" or "great:)", one in "too!);".
  assert.deepEqual(tokenizeImdbReview('(1972): great:) too!); 3-D (8 8)<br />:)'), [
    '(', '1972', ')', ':', 'great', ':', ')', 'too', '!', ');', '3-d', '(8', '8)', ':)',
  ]);
  assert.deepEqual(tokenizeImdbReview("I don't think it's over-the-top, teachers' 4th"), ['i', "don't", 'think', 'it', 'over-the-top', ',', 'teachers', "'", '4th']);
});

// Vocabulary (no newline after the last word, as in the release): column = line number.
const VOCAB = ['the', 'movie', '!', "don't", 'high', 'sci-fi', ':)', 'great', '?', 'bad', 'pit', 'or'].join('\n');
const REVIEWS: Record<string, string> = {
  // the movie ! great high sci-fi :) ×2 ("was", "bromwell", "best" and the tags are not columns)
  'train/pos/2_9.txt': "The movie was GREAT!<br /><br />Bromwell High's best sci-fi :) :)",
  // don't, the ×2, pit, or (the double hyphen splits "pit--or"), movie, ?
  'train/pos/10_7.txt': "Don't miss it... the pit--or the movie?",
  // nothing of the vocabulary: an all-zero row
  'train/neg/1_4.txt': 'Nothing here.',
  // bad ×3, movie; "4th" and "i've" are not columns
  'train/neg/3_2.txt': "Bad, bad, BAD movie. 4th time I've seen it",
  // great ×3, ! ×3; ":-)" is not a column and "great:)" holds no emoticon
  'test/pos/5_10.txt': 'GREAT! GREAT!! :-) great:)',
  "test/neg/2_1.txt": "the movie's bad ?",
};

function writeImdbTar(path: string, reviews: Record<string, string>, vocab: string | undefined): void {
  const files = Object.entries(reviews).map(([p, data]) => ({ path: `aclImdb/${p}`, data }));
  if (vocab !== undefined) files.unshift({ path: 'aclImdb/imdb.vocab', data: vocab });
  files.push({ path: 'aclImdb/README', data: 'not a review' }, { path: 'aclImdb/train/unsup/0_0.txt', data: 'unlabelled' });
  writeFileSync(path, gzipSync(encodeTar(files)));
}

function rows(X: { rows: number; indptr: Int32Array; indices: Int32Array; values: Float64Array | Float32Array }): [number, number][][] {
  const out: [number, number][][] = [];
  for (let i = 0; i < X.rows; i++) {
    const r: [number, number][] = [];
    for (let k = X.indptr[i]; k < X.indptr[i + 1]; k++) r.push([X.indices[k], X.values[k]]);
    out.push(r);
  }
  return out;
}

test('IMDB from a tiny aclImdb .tar.gz: exact counts, row order pos-by-id then neg-by-id, labels from ratings', () => {
  const dir = scratchDir('imdb');
  const tar = join(dir, 'tiny.tar.gz');
  writeImdbTar(tar, REVIEWS, VOCAB);
  const d = loadImdb(tar);
  assert.equal(d.train.X.cols, 12);
  assert.deepEqual(d.vocabulary.slice(-2), ['pit', 'or']);
  assert.deepEqual(Array.from(d.trainIds), [2, 10, 1, 3]); // numeric, not string, order of ids
  assert.deepEqual(Array.from(d.trainRatings), [9, 7, 4, 2]);
  assert.deepEqual(Array.from(d.train.y), [1, 1, -1, -1]);
  assert.deepEqual(rows(d.train.X), [
    [[0, 1], [1, 1], [2, 1], [4, 1], [5, 1], [6, 2], [7, 1]],
    [[0, 2], [1, 1], [3, 1], [8, 1], [10, 1], [11, 1]],
    [],
    [[1, 1], [9, 3]],
  ]);
  assert.deepEqual(rows(d.test.X), [
    [[2, 3], [7, 3]],
    [[0, 1], [1, 1], [8, 1], [9, 1]],
  ]);
  assert.deepEqual(Array.from(d.test.y), [1, -1]);
  assert.equal(d.stats.emptyRows, 1);
  assert.equal(d.stats.vocabularyHits, 8 + 7 + 0 + 4 + 6 + 4);
  // Columns "never used" by any review: none here (every word occurs).
  assert.equal(d.stats.unusedColumns, 0);

  // The same data from the extracted folder, given as aclImdb or as the folder above it.
  const tree = join(dir, 'tree');
  for (const [p, data] of Object.entries({ ...REVIEWS, 'imdb.vocab': VOCAB })) {
    mkdirSync(dirname(join(tree, 'aclImdb', p)), { recursive: true });
    writeFileSync(join(tree, 'aclImdb', p), data);
  }
  for (const source of [join(tree, 'aclImdb'), tree]) {
    const f = loadImdb(source);
    assert.deepEqual(rows(f.train.X), rows(d.train.X), source);
    assert.deepEqual(rows(f.test.X), rows(d.test.X), source);
  }
  // A folder holding the release archive under its usual name.
  const holder = join(dir, 'holder');
  mkdirSync(holder);
  writeImdbTar(join(holder, IMDB_ARCHIVE), REVIEWS, VOCAB);
  assert.deepEqual(rows(loadImdb(holder).train.X), rows(d.train.X));
  // A different threshold changes the labels, not the counts.
  assert.deepEqual(Array.from(loadImdb(tar, { positiveAbove: 8 }).train.y), [1, -1, -1, -1]);
});

test('IMDB: a tar without the vocabulary, an empty review and a misfiled review are refused by name', () => {
  const dir = scratchDir('imdb');
  const noVocab = join(dir, 'novocab.tar.gz');
  writeImdbTar(noVocab, REVIEWS, undefined);
  assert.throws(
    () => loadImdb(noVocab),
    (e: unknown) => e instanceof DataFormatError && e.message.startsWith(`${noVocab}: has no vocabulary file member aclImdb/imdb.vocab`),
  );
  const empty = join(dir, 'empty.tar.gz');
  writeImdbTar(empty, { ...REVIEWS, 'train/neg/7_3.txt': ' \n ' }, VOCAB);
  assert.throws(
    () => loadImdb(empty),
    (e: unknown) => e instanceof DataFormatError && e.message.startsWith(`${empty} (member aclImdb/train/neg/7_3.txt): the review is empty`),
  );
  const misfiled = join(dir, 'misfiled.tar.gz');
  writeImdbTar(misfiled, { ...REVIEWS, 'train/pos/8_2.txt': 'bad' }, VOCAB);
  assert.throws(() => loadImdb(misfiled), /member aclImdb\/train\/pos\/8_2\.txt\): a review rated 2 does not belong in the pos\/ folder/);
  const dupVocab = join(dir, 'dup.tar.gz');
  writeImdbTar(dupVocab, REVIEWS, 'the\nmovie\nthe');
  assert.throws(() => loadImdb(dupVocab), /imdb\.vocab\) \(at 3\): line 3: the word 'the' appears twice/);
  assert.throws(() => loadImdb(join(dir, 'nothing-here')), /No such IMDB folder or archive/);
});

const imdbTar = sharedData(join('imdb', IMDB_ARCHIVE));
test(
  'shared IMDB: 25 000 / 25 000 reviews, d = 89 527, and the first row equals the release labeledBow.feat',
  { skip: imdbTar && existsSync(imdbTar) ? false : `shared data file ../shared/data/imdb/${IMDB_ARCHIVE} is absent` },
  async () => {
    const d = await loadBinaryDataset('imdb', undefined, 0);
    assert.equal(d.train.X.rows, 25_000);
    assert.equal(d.test.X.rows, 25_000);
    assert.equal(d.train.X.cols, IMDB_VOCABULARY_SIZE);
    assert.equal(d.test.X.cols, IMDB_VOCABULARY_SIZE);
    assert.equal(d.train.y.filter((v) => v === 1).length, 12_500);
    assert.equal(d.test.y.filter((v) => v === 1).length, 12_500);
    assert.equal(d.train.X.kind, 'csr');
    // Measured with this tokenizer (docs/DATA.md); a change here changes every IMDB result.
    assert.equal(d.train.X.kind === 'csr' && d.train.X.indices.length, 3_457_357);
    assert.equal(d.test.X.kind === 'csr' && d.test.X.indices.length, 3_341_139);
    // train/pos/0_9.txt, the first line of the release's train/labeledBow.feat (0-based indices).
    const published =
      '0:9 1:1 2:4 3:4 4:6 5:4 6:2 7:2 8:4 10:4 12:2 26:1 27:1 28:1 29:2 32:1 41:1 45:1 47:1 50:1 54:2 57:1 59:1 63:2 64:1 66:1 68:2 70:1 72:1 78:1 100:1 106:1 116:1 ' +
      '122:1 125:1 136:1 140:1 142:1 150:1 167:1 183:1 201:1 207:1 208:1 213:1 217:1 230:1 255:1 321:5 343:1 357:1 370:1 390:2 468:1 514:1 571:1 619:1 671:1 766:1 ' +
      '877:1 1057:1 1179:1 1192:1 1402:2 1416:1 1477:2 1940:1 1941:1 2096:1 2243:1 2285:1 2379:1 2934:1 2938:1 3520:1 3647:1 4938:1 5138:4 5715:1 5726:1 5731:1 ' +
      '5812:1 8319:1 8567:1 10480:1 14239:1 20604:1 22409:4 24551:1 47304:1';
    assert.equal(
      rows(d.train.X as Parameters<typeof rows>[0])[0].map(([j, v]) => `${j}:${v}`).join(' '),
      published,
    );
  },
);
