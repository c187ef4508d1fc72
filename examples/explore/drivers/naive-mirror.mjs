// A user driver written against the step API, for `hetmem explore` (see docs/EXPLORE.md): it
// mirrors the region for a device. `snapshotAndStore` stores the hmm_range_fault snapshot through
// the device table directly, skipping the sequence check: the explorer finds the interleaving where
// an invalidation lands between the snapshot and the store. `checked` is the correct protocol.

/** Mirrors the whole region without mmu_interval_read_retry (buggy). */
export function* snapshotAndStore({ dev, startVpn, pages }) {
  const seq = yield* dev.readBegin();
  const { rc, range } = yield* dev.rangeFault(startVpn, startVpn + pages, seq, false);
  if (rc !== 0) return;
  yield* dev.takeLock();
  for (let i = 0; i < pages; i++) {
    if (range.flags[i] >>> 31) dev.mirror.set(startVpn + i, range.pfns[i], 1);
  }
  yield* dev.dropLock();
}

/** The same with the read_retry loop (correct). */
export function* checked({ dev, startVpn, pages }) {
  for (;;) {
    const seq = yield* dev.readBegin();
    const { rc, range } = yield* dev.rangeFault(startVpn, startVpn + pages, seq, false);
    if (rc === -16) continue; // -EBUSY
    if (rc !== 0) return;
    yield* dev.takeLock();
    if (yield* dev.readRetry(seq)) {
      yield* dev.dropLock();
      continue;
    }
    yield* dev.commit(range);
    yield* dev.dropLock();
    return;
  }
}
