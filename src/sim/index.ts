export * from './clock.js';
export * from './errno.js';
export * from './errors.js';
export * from './events.js';
export * from './rng.js';
export * from './stats.js';
export * from './trace.js';
