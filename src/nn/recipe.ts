/**
 * The training recipe of the Neural Cleanse release's infected models (BadNets injection), as
 * defaults. Kept free of TensorFlow.js so that the CLI's option table can show them cheaply.
 */

/** Epochs of the release's GTSRB recipe. */
export const DEFAULT_EPOCHS = 10;
/** Mini-batch size: 32, the Keras default that the release's training used. */
export const DEFAULT_BATCH_SIZE = 32;
/** Adam learning rate of the release (Keras default 1e-3). */
export const DEFAULT_LEARNING_RATE = 1e-3;
