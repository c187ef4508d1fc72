export * from './gpu.js';
export * from './gpuMemory.js';
export * from './vaSpace.js';
export * from './grid.js';
export * from './tlb.js';
export * from './vaBlock.js';
export * from './policies/registry.js';
export type * from './policies/types.js';
