// Models the system-wide PASID space (drivers/iommu/iommu-sva.c's IDA, iommu_alloc_global_pasid):
// one set of values in use, so a PASID is unique across every device and IOMMU even though the
// tables holding it are per device. Upstream hands out the smallest free value with no delay
// (R-SVA-11); the `pasidReuse` option adds the policies the seed discussions asked for (R-SVA-130).
// Two bitmap levels (a bit per value, a bit per full word) keep the smallest-free search short.

import type { SimClock } from '../sim/clock.js';
import { InvariantError } from '../sim/errors.js';
import type { Mm } from '../mm/mm.js';
import { PASID_INVALID } from './constants.js';
import type { PasidReusePolicy } from './options.js';

/** Who holds a PASID value. */
export type PasidOwner =
  | { readonly kind: 'mm'; readonly mm: Mm }
  | { readonly kind: 'extra'; readonly mm: Mm }
  | { readonly kind: 'global'; readonly deviceName: string }
  | { readonly kind: 'plain' };

interface Quarantined {
  readonly pasid: number;
  readonly freedAtNs: number;
  acked: boolean;
}

export interface PasidAllocatorOptions {
  readonly spaceSize: number;
  readonly policy: PasidReusePolicy;
  readonly quarantineNs: number;
  readonly quarantineNeedsAck: boolean;
}

export class PasidAllocator {
  readonly spaceSize: number;
  readonly policy: PasidReusePolicy;
  /** A bit per value: in use (owned or quarantined). Value 0 is marked used for good. */
  private readonly used: Uint32Array;
  /** A bit per word of `used`: the word is full. */
  private readonly full: Uint32Array;
  /** `exhaustFirst`: a bit per value handed out at least once. */
  private readonly everUsed: Uint32Array | null;
  private readonly owners = new Map<number, PasidOwner>();
  private readonly quarantine: Quarantined[] = [];
  private lastHandedOut = 0;
  /** Values owned right now (quarantined ones not counted). */
  inUse = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly options: PasidAllocatorOptions,
  ) {
    this.spaceSize = options.spaceSize;
    this.policy = options.policy;
    const words = Math.ceil(this.spaceSize / 32);
    this.used = new Uint32Array(words);
    this.full = new Uint32Array(Math.ceil(words / 32));
    this.everUsed = options.policy === 'exhaustFirst' ? new Uint32Array(words) : null;
    this.markUsed(0);
    // Values past the space (in the last word) can never be handed out.
    for (let v = this.spaceSize; v < words * 32; v++) this.markUsed(v);
  }

  /**
   * A free value in [min, max] by the reuse policy, now owned by `owner`; PASID_INVALID when none
   * is free. (iommu_alloc_global_pasid and the SVA allocation both pass [1, maxPasids - 1].)
   */
  alloc(min: number, max: number, owner: PasidOwner): number {
    const lo = Math.max(1, min);
    const hi = Math.min(max, this.spaceSize - 1);
    if (lo > hi) return PASID_INVALID;
    this.releaseExpired();
    let v: number;
    switch (this.policy) {
      case 'cyclic': {
        const from = this.lastHandedOut + 1;
        v = from <= hi ? this.findFree(Math.max(lo, from), hi) : -1;
        if (v < 0) v = this.findFree(lo, hi);
        break;
      }
      case 'exhaustFirst':
        v = this.findNeverUsed(lo, hi);
        if (v < 0) v = this.findFree(lo, hi);
        break;
      default:
        v = this.findFree(lo, hi);
    }
    if (v < 0) return PASID_INVALID;
    this.markUsed(v);
    if (this.everUsed !== null) this.everUsed[v >>> 5] |= 1 << (v & 31);
    this.owners.set(v, owner);
    this.lastHandedOut = v;
    this.inUse++;
    return v;
  }

  /** Gives `pasid` back: free at once, or quarantined under the `quarantine` policy. */
  free(pasid: number): void {
    if (!this.owners.has(pasid)) {
      throw new InvariantError('freeing a PASID that is not allocated', { pasid });
    }
    this.owners.delete(pasid);
    this.inUse--;
    if (this.policy === 'quarantine') {
      this.quarantine.push({ pasid, freedAtNs: this.clock.nowNs, acked: false });
      return;
    }
    this.markFree(pasid);
  }

  /** iommuPasidReleaseDone: the driver says it is done with a quarantined value. */
  releaseDone(pasid: number): boolean {
    const q = this.quarantine.find((e) => e.pasid === pasid);
    if (q === undefined) return false;
    q.acked = true;
    return true;
  }

  owner(pasid: number): PasidOwner | undefined {
    return this.owners.get(pasid);
  }

  isQuarantined(pasid: number): boolean {
    this.releaseExpired();
    return this.quarantine.some((e) => e.pasid === pasid);
  }

  /** Every owned value with its owner, in value order. */
  ownedValues(): [number, PasidOwner][] {
    return [...this.owners].sort((a, b) => a[0] - b[0]);
  }

  private releaseExpired(): void {
    if (this.quarantine.length === 0) return;
    const now = this.clock.nowNs;
    for (let i = 0; i < this.quarantine.length;) {
      const q = this.quarantine[i];
      const expired = now - q.freedAtNs >= this.options.quarantineNs;
      if (expired && (q.acked || !this.options.quarantineNeedsAck)) {
        this.quarantine.splice(i, 1);
        this.markFree(q.pasid);
      } else {
        i++;
      }
    }
  }

  private markUsed(v: number): void {
    const w = v >>> 5;
    this.used[w] |= 1 << (v & 31);
    if (this.used[w] === 0xffffffff) this.full[w >>> 5] |= 1 << (w & 31);
  }

  private markFree(v: number): void {
    const w = v >>> 5;
    this.used[w] &= ~(1 << (v & 31));
    this.full[w >>> 5] &= ~(1 << (w & 31));
  }

  /** The smallest value in [lo, hi] whose bit is clear in `used`, or -1. */
  private findFree(lo: number, hi: number): number {
    let w = lo >>> 5;
    const lastWord = hi >>> 5;
    // The first word may be partly below `lo`.
    let bits = ~this.used[w] & (~0 << (lo & 31));
    for (;;) {
      if (bits !== 0) {
        const v = (w << 5) + ctz(bits);
        return v <= hi ? v : -1;
      }
      w++;
      if (w > lastWord) return -1;
      // Skip whole full words 32 at a time through the summary level.
      while ((w & 31) === 0 && w + 32 <= lastWord + 1 && this.full[w >>> 5] === 0xffffffff) w += 32;
      if (w > lastWord) return -1;
      if (this.full[w >>> 5] & (1 << (w & 31))) {
        bits = 0;
        continue;
      }
      bits = ~this.used[w];
    }
  }

  private findNeverUsed(lo: number, hi: number): number {
    const ever = this.everUsed!;
    for (let w = lo >>> 5; w <= hi >>> 5; w++) {
      let bits = ~(ever[w] | this.used[w]);
      if (w === lo >>> 5) bits &= ~0 << (lo & 31);
      if (bits !== 0) {
        const v = (w << 5) + ctz(bits);
        return v <= hi ? v : -1;
      }
    }
    return -1;
  }
}

/** Count of trailing zero bits of a non-zero 32-bit value. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}
