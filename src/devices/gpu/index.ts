export * from './gpu.js';
export * from './gpuMemory.js';
export * from './vaSpace.js';
