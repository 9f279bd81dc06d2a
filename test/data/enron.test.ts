import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ENRON_ARCHIVE, ENRON_RELEASE_VOCABULARY, enronTokens, loadEnron, type EnronDataset } from '../../src/data/enron.js';
import { loadBinaryDataset } from '../../src/data/registry.js';
import { encodeTar } from '../../src/data/tar.js';
import { DataFormatError, NotFoundError, OptionError } from '../../src/errors.js';
import { scratchDir, sharedData } from '../helpers.js';

test('Enron tokens: lower case, alphabetic tokens of 2+ letters, stop words out, verb lemma else noun lemma', () => {
  // "re", "were", "the" are stop words; "2", "x2" are not alphabetic; "t", "e" are one letter.
  const t = enronTokens("Subject: Re: prices were forwarded , thanks ! 2 don ' t e - mail x2 the meetings");
  assert.deepEqual(t.lemmas, ['subject', 'price', 'forward', 'thank', 'don', 'mail', 'meeting']);
  assert.equal(t.tokens, 10); // subject re prices were forwarded thanks don mail the meetings
  assert.deepEqual(enronTokens('said went children data').lemmas, ['say', 'go', 'child', 'datum']);
});

// Pre-tokenized like the Enron-Spam release. Expected lemma counts written out by hand.
const EMAILS: Record<string, [string, Record<string, number>]> = {
  'ham/0001.1999-12-10.farmer.ham.txt': ['Subject: gas prices\nthe prices were forwarded , thanks', { subject: 1, gas: 1, price: 2, forward: 1, thank: 1 }],
  'ham/0002.1999-12-13.farmer.ham.txt': ['Subject: re : gas meter 7268\nmeter volumes for daren', { subject: 1, gas: 1, meter: 2, volume: 1, daren: 1 }],
  'ham/0003.1999-12-14.farmer.ham.txt': ['Subject: gas\ngas gas', { subject: 1, gas: 3 }],
  'ham/0004.1999-12-14.farmer.ham.txt': ['Subject: thanks\nthanks daren', { subject: 1, thank: 2, daren: 1 }],
  'ham/0005.1999-12-14.farmer.ham.txt': ['Subject: volumes\nvolume changes', { subject: 1, volume: 2, change: 1 }],
  'spam/0006.2003-12-18.GP.spam.txt': ['Subject: cheap pills !\nbuy cheap pills now', { subject: 1, cheap: 2, pill: 2, buy: 1 }],
  'spam/0007.2003-12-18.GP.spam.txt': ['Subject: money\nmoney money money', { subject: 1, money: 4 }],
  'spam/0008.2003-12-18.GP.spam.txt': ['Subject: cheap pills\ncheap', { subject: 1, cheap: 2, pill: 1 }],
  'spam/0009.2003-12-18.GP.spam.txt': ['Subject: buy\nbuy now', { subject: 1, buy: 2 }],
  'spam/0010.2003-12-18.GP.spam.txt': ['Subject: win money\nwinning', { subject: 1, win: 2, money: 1 }],
};

function writeEnronFolder(root: string): void {
  for (const [p, [text]] of Object.entries(EMAILS)) {
    mkdirSync(join(root, 'enron1', p.split('/')[0]), { recursive: true });
    writeFileSync(join(root, 'enron1', p), text);
  }
  writeFileSync(join(root, 'enron1', 'Summary.txt'), 'not an email');
}

/** Every row against the hand-written counts of its file. */
function checkRows(d: EnronDataset): void {
  for (const [set, files] of [
    [d.train, d.trainFiles],
    [d.test, d.testFiles],
  ] as const) {
    files.forEach((f, i) => {
      const key = f.replace(/^.*enron1\//, '');
      const [, expected] = EMAILS[key];
      const got: Record<string, number> = {};
      for (let k = set.X.indptr[i]; k < set.X.indptr[i + 1]; k++) got[d.vocabulary[set.X.indices[k]]] = set.X.values[k];
      const want = Object.fromEntries(Object.entries(expected).filter(([w]) => d.vocabulary.includes(w)));
      assert.deepEqual(got, want, key);
      assert.equal(set.y[i], key.startsWith('spam/') ? 1 : -1, key);
    });
  }
}

test('Enron from a tiny folder: seeded 80/20 split, spam = +1, vocabulary by document frequency in the training split', () => {
  const dir = scratchDir('enron');
  writeEnronFolder(dir);
  const d = loadEnron(join(dir, 'enron1'), { vocabulary: 'train', minDocumentFrequency: 1, seed: 3 });
  assert.equal(d.train.X.rows, 8); // floor(0.8 * 10)
  assert.equal(d.test.X.rows, 2);
  assert.deepEqual([...d.trainFiles, ...d.testFiles].sort(), Object.keys(EMAILS).sort());
  assert.deepEqual(d.vocabularySource, { mode: 'train', minDocumentFrequency: 1 });
  assert.deepEqual([...d.vocabulary], [...d.vocabulary].sort());
  checkRows(d);
  // The same seed gives the same split, from the folder above as well; another seed another one.
  const again = loadEnron(dir, { vocabulary: 'train', minDocumentFrequency: 1, seed: 3 });
  assert.deepEqual(again.trainFiles.map((f) => f.replace(/^enron1\//, '')), d.trainFiles.map((f) => f.replace(/^enron1\//, '')));
  const other = loadEnron(join(dir, 'enron1'), { vocabulary: 'train', minDocumentFrequency: 1, seed: 4 });
  assert.notDeepEqual(other.trainFiles, d.trainFiles);
  // "subject" is in all 8 training emails and no other lemma is in more than 3 emails.
  const df8 = loadEnron(join(dir, 'enron1'), { vocabulary: 'train', minDocumentFrequency: 8, seed: 3 });
  assert.deepEqual(df8.vocabulary, ['subject']);
  assert.equal(df8.stats.emptyRows, 0);
});

test('Enron: the release vocabulary json sets the columns; tar and folder agree', () => {
  const dir = scratchDir('enron');
  writeEnronFolder(dir);
  const vocab = { money: 0, gas: 1, thank: 2, absent: 3 };
  writeFileSync(join(dir, ENRON_RELEASE_VOCABULARY), JSON.stringify(vocab));
  const files = Object.entries(EMAILS).map(([p, [text]]) => ({ path: `enron1/${p}`, data: text }));
  const tarDir = join(dir, 'archive');
  mkdirSync(tarDir);
  writeFileSync(join(tarDir, ENRON_ARCHIVE), gzipSync(encodeTar(files)));
  writeFileSync(join(tarDir, ENRON_RELEASE_VOCABULARY), JSON.stringify(vocab));

  const fromFolder = loadEnron(join(dir, 'enron1'), { seed: 1 }); // auto: finds the json one folder up
  assert.deepEqual(fromFolder.vocabulary, ['money', 'gas', 'thank', 'absent']);
  assert.deepEqual(fromFolder.vocabularySource, { mode: 'release', file: join(dir, ENRON_RELEASE_VOCABULARY) });
  checkRows(fromFolder);
  const fromTar = loadEnron(tarDir, { seed: 1 }); // a folder holding enron1.tar.gz and the json
  assert.equal(fromTar.source, join(tarDir, ENRON_ARCHIVE));
  assert.deepEqual(fromTar.trainFiles, fromFolder.trainFiles.map((f) => `enron1/${f}`));
  assert.deepEqual(fromTar.train.X, fromFolder.train.X);
  assert.deepEqual(fromTar.test.X, fromFolder.test.X);
});

test('Enron: bad vocabulary files, empty emails and bad options are refused clearly', () => {
  const dir = scratchDir('enron');
  writeEnronFolder(dir);
  const root = join(dir, 'enron1');
  assert.throws(() => loadEnron(root, { vocabulary: 'release' }), (e: unknown) => e instanceof NotFoundError && /vocabulary 'train'/.test(e.message));
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ a: 0, b: 0 }));
  assert.throws(() => loadEnron(root, { vocabularyFile: bad }), /bad\.json: column 0 is given to both 'a' and 'b'/);
  writeFileSync(bad, JSON.stringify({ a: 0, b: 5 }));
  assert.throws(() => loadEnron(root, { vocabularyFile: bad }), (e: unknown) => e instanceof DataFormatError && /the column of 'b' is 5; columns must be the integers 0\.\.1/.test(e.message));
  writeFileSync(bad, '{"a": 0,');
  assert.throws(() => loadEnron(root, { vocabularyFile: bad }), /bad\.json: not valid JSON/);
  assert.throws(() => loadEnron(root, { trainFraction: 1 }), OptionError);
  assert.throws(() => loadEnron(root, { vocabulary: 'spacy' as 'train' }), /Expected vocabulary to be one of 'auto', 'release', 'train'/);
  writeFileSync(join(root, 'spam', '0011.empty.spam.txt'), '\n');
  assert.throws(() => loadEnron(root, { vocabulary: 'train' }), (e: unknown) => e instanceof DataFormatError && e.message.startsWith(`${join(root, 'spam', '0011.empty.spam.txt')}: the email is empty`));
});

const enronTar = sharedData(join('enron1', ENRON_ARCHIVE));
test(
  'shared Enron: 4 137 / 1 035 emails, the release vocabulary (4 822 words) by default, 5 265 lemmas when built',
  { skip: enronTar && existsSync(enronTar) ? false : `shared data file ../shared/data/enron1/${ENRON_ARCHIVE} is absent` },
  async () => {
    const d = (await loadBinaryDataset('enron', undefined, 0)) as EnronDataset;
    assert.equal(d.train.X.rows, 4137);
    assert.equal(d.test.X.rows, 1035);
    assert.equal(d.train.X.cols, 4822);
    assert.equal(d.vocabularySource.mode, 'release');
    assert.equal(d.train.y.filter((v) => v === 1).length + d.test.y.filter((v) => v === 1).length, 1500);
    assert.equal(d.stats.documents, 5172);
    const built = loadEnron(undefined, { vocabulary: 'train', seed: 0 });
    assert.equal(built.train.X.cols, 5265); // with wink-lemmatizer 3.0.4 (docs/DATA.md)
    assert.deepEqual(built.trainFiles, d.trainFiles);
  },
);
