import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeTar, readTar, walkTree } from '../../src/data/tar.js';
import { DataFormatError, NotFoundError } from '../../src/errors.js';
import { scratchDir } from '../helpers.js';

const text = (d: Uint8Array): string => Buffer.from(d).toString('utf8');

test('tar: the same files from a .tar, a .tar.gz and an extracted folder', () => {
  const files = [
    { path: 'top/', data: '', type: '5' },
    { path: 'top/b.txt', data: 'bee' },
    { path: 'top/sub/a.txt', data: 'x'.repeat(1000) }, // spans two 512-byte blocks
    { path: './top/empty.txt', data: '' },
  ];
  const dir = scratchDir('tar');
  writeFileSync(join(dir, 'a.tar'), encodeTar(files));
  writeFileSync(join(dir, 'a.tar.gz'), gzipSync(encodeTar(files)));
  mkdirSync(join(dir, 'tree', 'top', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'tree', 'top', 'b.txt'), 'bee');
  writeFileSync(join(dir, 'tree', 'top', 'sub', 'a.txt'), 'x'.repeat(1000));
  writeFileSync(join(dir, 'tree', 'top', 'empty.txt'), '');
  const expected = [
    ['top/b.txt', 'bee'],
    ['top/empty.txt', ''],
    ['top/sub/a.txt', 'x'.repeat(1000)],
  ];
  for (const source of [join(dir, 'a.tar'), join(dir, 'a.tar.gz'), join(dir, 'tree')]) {
    const got = [...walkTree(source)].map((e) => [e.path, text(e.data)]).sort((a, b) => a[0].localeCompare(b[0]));
    assert.deepEqual(got, expected, source);
  }
  // The filter sees paths before the bytes are read.
  const seen: string[] = [];
  const only = [...walkTree(join(dir, 'tree'), { filter: (p) => (seen.push(p), p.endsWith('b.txt')) })];
  assert.deepEqual(only.map((e) => e.path), ['top/b.txt']);
  assert.equal(seen.length, 3);
});

test('tar: GNU long names and pax paths name the entry that follows them', () => {
  const long = `${'d'.repeat(120)}/file.txt`;
  const paxRecord = (key: string, value: string): string => {
    // "<len> key=value\n", where len counts the bytes of the whole record including its own digits.
    const body = Buffer.byteLength(` ${key}=${value}\n`);
    let len = body + 1;
    while (String(len).length + body !== len) len++;
    return `${len} ${key}=${value}\n`;
  };
  const tar = encodeTar([
    { path: '././@LongLink', data: `${long}\0`, type: 'L' },
    { path: 'truncated-name', data: 'one' },
    { path: 'PaxHeader', data: paxRecord('path', 'über/pax.txt'), type: 'x' },
    { path: 'short', data: 'two' },
    { path: 'plain.txt', data: 'three' },
  ]);
  const got = [...readTar(tar, 'l.tar')].map((e) => [e.path, text(e.data)]);
  assert.deepEqual(got, [
    [long, 'one'],
    ['über/pax.txt', 'two'],
    ['plain.txt', 'three'],
  ]);
});

test('tar: a corrupt header, a truncated archive and a missing file are refused', () => {
  const tar = encodeTar([{ path: 'a.txt', data: 'hello' }]);
  const corrupt = Buffer.from(tar);
  corrupt[10] ^= 0xff;
  assert.throws(() => [...readTar(corrupt, 'c.tar')], (e: unknown) => e instanceof DataFormatError && /c\.tar \(at 0\): not a tar archive, or corrupt: the header at byte 0 has checksum/.test(e.message));
  const big = encodeTar([{ path: 'a.txt', data: 'y'.repeat(2000) }]);
  assert.throws(() => [...readTar(big.subarray(0, 1024), 't.tar')], /t\.tar \(at 0\): truncated: the entry at byte 0 declares 2000 bytes/);
  const dir = scratchDir('tar');
  writeFileSync(join(dir, 'bad.tar.gz'), gzipSync(tar).subarray(0, 20));
  assert.throws(() => [...walkTree(join(dir, 'bad.tar.gz'))], /gzip stream is corrupt or truncated/);
  assert.throws(() => [...walkTree(join(dir, 'none.tar'))], NotFoundError);
});
