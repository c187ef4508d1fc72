export * from './hmmPfn.js';
export { HmmRange, hmmRangeFault } from './hmmRangeFault.js';
