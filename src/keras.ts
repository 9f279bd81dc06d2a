/**
 * Keras's K.epsilon(), 1e-7: its probability clip in cross-entropy, and the Neural Cleanse
 * release's tanh and Adam ε (TF.js's float32 backend epsilon is the same number). Kept outside
 * nn/ because the graph programs (graph/) clip their loss with it too, and graph/ sits below nn/.
 */
export const KERAS_EPSILON = 1e-7;
