/** Keras's K.epsilon(), 1e-7: its probability clip in cross-entropy, and the Neural Cleanse release's tanh and Adam ε. */
export const KERAS_EPSILON = 1e-7;
