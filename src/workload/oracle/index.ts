export * from './opsFile.js';
export * from './outcome.js';
export * from './pattern.js';
export * from './replay.js';
export * from './corpus.js';
