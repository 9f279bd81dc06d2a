/**
 * poisonguard's public API: every subpath's, under one name. Importing it loads TensorFlow.js
 * (the neural half); `poisonguard/certify`, `/data` and `/report` load only what they need.
 */
export * from './certify/index.js';
export * from './data/index.js';
export * from './cleanse/index.js';
export * from './nn/index.js';
export * from './report/index.js';
