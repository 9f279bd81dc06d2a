import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/nn/engine.js';
import { PoisonguardError, UnknownNameError } from '../../src/errors.js';

test("'auto' picks wasm here (tfjs-node is not installed), single-threaded, with the kernel fixes", async () => {
  const info = await initEngine({ backend: 'auto' });
  assert.equal(info.backend, 'wasm');
  assert.equal(info.threads, 1);
  assert.equal(info.tfjsVersion, tf.version_core);
  assert.equal(tf.getBackend(), 'wasm');
  assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'), 'Conv2DBackpropFilter is registered for wasm');
});

test("'cpu' can be chosen, and switching back to wasm works", async () => {
  assert.equal((await initEngine({ backend: 'cpu' })).backend, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal((await initEngine({ backend: 'wasm' })).backend, 'wasm');
});

test('an unknown backend name lists the valid ones', async () => {
  await assert.rejects(initEngine({ backend: 'gpu' as 'cpu' }), (e: unknown) => {
    assert.ok(e instanceof UnknownNameError);
    assert.match((e as Error).message, /Unknown backend 'gpu'.*auto, tensorflow, wasm, cpu/);
    return true;
  });
});

test("forcing 'tensorflow' without tfjs-node says what to install", async () => {
  await assert.rejects(initEngine({ backend: 'tensorflow' }), (e: unknown) => {
    assert.ok(e instanceof PoisonguardError);
    assert.match((e as Error).message, /npm i @tensorflow\/tfjs-node@4\.22\.0/);
    return true;
  });
});
