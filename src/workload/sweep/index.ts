export * from './grid.js';
export * from './path.js';
export * from './results.js';
export * from './shard.js';
