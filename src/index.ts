// hetmem's public API: the layers, bottom up.
export * from './check/mmAudit.js';
export * from './check/svaAudit.js';
export * from './devices/deviceTable.js';
export * from './devices/accel/index.js';
export * from './devices/dmirror/index.js';
export * from './hmm/index.js';
export * from './iommu/index.js';
export * from './mm/index.js';
export * from './notifier/index.js';
export * from './sim/index.js';
export * from './workload/oracle/index.js';
export * from './report/chromeTrace.js';
export * from './report/traceValidate.js';
export { formatSummary, summaryJson } from './report/summaryText.js';
export * from './report/html.js';
