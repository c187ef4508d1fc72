// The explorer's step vocabulary lives in sim/steps.ts, where device models can use it too.
export { DriverLock, type Program, type Step, step } from '../../sim/steps.js';
