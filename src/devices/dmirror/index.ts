export { DmirrorDevice, DmirrorDriver, type DmirrorBuffer } from './device.js';
export { Dmirror, DMIRROR_RANGE_PAGES } from './dmirror.js';
export * from './uapi.js';
