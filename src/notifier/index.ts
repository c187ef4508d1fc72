export * from './classic.js';
export * from './interval.js';
export { type IntervalNode, IntervalTree } from './intervalTree.js';
export { notifierSrcu, SrcuDomain } from './srcu.js';
export { failNextRecordAlloc, MmuNotifierSubscriptions } from './subscriptions.js';
