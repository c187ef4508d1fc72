export * from './builtin.js';
export * from './load.js';
export * from './machine.js';
export type * from './model.js';
export * from './process.js';
export * from './runner.js';
export * from './schema.js';
