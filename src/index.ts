// hetmem's public API: the layers, bottom up.
export * from './check/mmAudit.js';
export * from './mm/index.js';
export * from './sim/index.js';
