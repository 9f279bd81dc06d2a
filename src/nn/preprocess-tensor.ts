/** The model's preprocessing on tensors, differentiably (for Neural Cleanse's stamped inputs). */
import * as tf from '@tensorflow/tfjs-core';
import { affine, checkChannels, type Preprocessing } from './preprocess.js';

/**
 * Preprocesses a float tensor of raw pixel values (…, channels last), differentiably: Neural Cleanse
 * stamps in the raw domain and calls this on the stamped tensor.
 */
export function preprocessTensor<T extends tf.Tensor>(x: T, p: Preprocessing): T {
  const channels = x.shape[x.shape.length - 1] ?? 1;
  checkChannels(p, channels);
  return tf.tidy(() => {
    if (p.kind === 'scale') return tf.add(tf.mul(x, p.scale), p.offset) as T;
    const { a, b } = affine(p, channels);
    return tf.add(tf.mul(x, tf.tensor1d(Array.from(a))), tf.tensor1d(Array.from(b))) as T;
  });
}

