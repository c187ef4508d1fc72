// Where a page of a process lives, as the visualizer shows it: one byte per page. The low four bits
// are the kind; for the device kinds the high four bits name the device (its slot in the recording's
// device list), so "device-private on gpu0" and "on gpu1" are different colours of one kind.

/** Not covered by any VMA at this moment (the map still shows the slot, greyed). */
export const PAGE_UNMAPPED = 0;
/** Inside a VMA, nothing mapped (pte_none). */
export const PAGE_NOT_PRESENT = 1;
/** A present mapping of a RAM frame. */
export const PAGE_RAM = 2;
/** A present mapping of the shared zero page (or a frame of the huge zero page). */
export const PAGE_ZERO = 3;
/** A device-private entry: the page lives in device memory the CPU cannot address. */
export const PAGE_DEVICE_PRIVATE = 4;
/** A present mapping of device-coherent memory. */
export const PAGE_DEVICE_COHERENT = 5;
/** A device-exclusive entry: a device holds the page for atomics. */
export const PAGE_EXCLUSIVE = 6;
/** A migration entry: the page is under migration, CPU accesses wait. */
export const PAGE_MIGRATING = 7;
/** Anything else the table can hold (swap, hwpoison, marker entries). */
export const PAGE_OTHER = 8;

export const PAGE_KIND_COUNT = 9;
export const PAGE_KIND_MASK = 0xf;
/** Most devices a recording tells apart (the slot is four bits). */
export const MAX_DEVICE_SLOTS = 16;

export const PAGE_KIND_NAMES: readonly string[] = [
  'unmapped',
  'not present',
  'RAM',
  'zero page',
  'device-private',
  'device-coherent',
  'device-exclusive',
  'under migration',
  'other',
];

export function pageKind(state: number): number {
  return state & PAGE_KIND_MASK;
}

export function pageDevice(state: number): number {
  return state >>> 4;
}

export function makePageState(kind: number, deviceSlot = 0): number {
  return kind | (deviceSlot << 4);
}

/** "device-private on gpu0", "RAM", ... for a state, given the recording's device names by slot. */
export function describePageState(state: number, deviceNames: readonly string[]): string {
  const kind = pageKind(state);
  const name = PAGE_KIND_NAMES[kind] ?? `kind ${kind}`;
  if (kind === PAGE_DEVICE_PRIVATE || kind === PAGE_DEVICE_COHERENT || kind === PAGE_EXCLUSIVE) {
    return `${name} on ${deviceNames[pageDevice(state)] ?? `device ${pageDevice(state)}`}`;
  }
  return name;
}

// A device's mirror of a page (its own page table entry), one byte per page: bit flags.
/** The device has an entry for the page. */
export const MIRROR_VALID = 1;
/** The entry allows writes. */
export const MIRROR_WRITE = 2;
/** The entry points into the device's own memory (else: system memory over the link). */
export const MIRROR_LOCAL = 4;
/** The entry allows atomics (device-exclusive access or local memory). */
export const MIRROR_ATOMIC = 8;

export function describeMirrorState(state: number): string {
  if ((state & MIRROR_VALID) === 0) return 'no entry';
  const parts = [state & MIRROR_WRITE ? 'read-write' : 'read-only'];
  parts.push(state & MIRROR_LOCAL ? 'device memory' : 'system memory');
  if (state & MIRROR_ATOMIC) parts.push('atomic');
  return parts.join(', ');
}
