export * from './accelerator.js';
export * from './driver.js';
