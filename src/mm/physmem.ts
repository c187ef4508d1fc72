// Models the kernel's physical memory: struct page / struct folio metadata and the page allocator.
// Metadata lives in typed arrays per memory section of 32768 frames (as SPARSEMEM keeps struct
// pages per section), claimed by zones as they fill, so it costs nothing for memory never touched
// and nothing is ever copied to grow. Zones: RAM now; device-private and device-coherent zones
// join later, each owning whole sections.
//
// Reference counting follows the kernel: a large folio (a 2 MiB THP or hugetlb page, always 512
// frames at a 512-aligned pfn) has one refcount, kept on its head frame; mapcounts are per frame,
// plus one PMD ("entire") mapcount per large folio.

import { ENOMEM } from '../sim/errno.js';
import { InvariantError } from '../sim/errors.js';
import { HPAGE_PMD_NR } from './constants.js';
import { type ContentMode, FrameContent } from './content.js';

export const SECTION_SHIFT = 15;
/** Frames per section: the unit in which zones claim pfns and metadata is allocated. */
export const SECTION_FRAMES = 1 << SECTION_SHIFT;
const SECTION_MASK = SECTION_FRAMES - 1;

// Frame flags (a subset of the kernel's page flags, plus model bookkeeping).
export const PG_LOCKED = 1 << 0;
/** The frame's mapping is an anon_vma (PageAnon). */
export const PG_ANON = 1 << 1;
/** An anonymous page known to be mapped by exactly one process (PageAnonExclusive). */
export const PG_ANON_EXCLUSIVE = 1 << 2;
export const PG_HEAD = 1 << 3;
export const PG_TAIL = 1 << 4;
/** The shared zero page or a frame of the huge zero page. */
export const PG_ZERO = 1 << 5;
export const PG_HUGETLB = 1 << 6;
export const PG_DIRTY = 1 << 7;
/** Reserved by the kernel (zero pages, hugetlb pool): never in a zone's free list. */
export const PG_RESERVED = 1 << 8;
/** In use (allocated and not yet freed). */
export const PG_ALLOCATED = 1 << 9;
/** The frame's mapping is a page cache (address_space). */
export const PG_PAGECACHE = 1 << 10;

export const ZONE_RAM = 0;
export const ZONE_DEVICE_PRIVATE = 1;
export const ZONE_DEVICE_COHERENT = 2;
export type ZoneKind = typeof ZONE_RAM | typeof ZONE_DEVICE_PRIVATE | typeof ZONE_DEVICE_COHERENT;

/** What physmem and the fault path need to know of a device page map (defined in devmap.ts). */
export interface DevPagemapLike {
  readonly type: number;
  readonly owner: unknown;
}

/** Called when a frame of a zone is freed (its folio refcount reached zero). */
export type FrameFreeHook = (pfn: number, nrPages: number) => void;

/** The metadata of one section's 32768 frames. */
class FrameSection {
  readonly refcount = new Int32Array(SECTION_FRAMES);
  /** PTE-level mapcount (the kernel's _mapcount + 1). */
  readonly mapcount = new Int32Array(SECTION_FRAMES);
  readonly flags = new Uint32Array(SECTION_FRAMES);
  /** Id of the frame's anon_vma or page cache in the mapping registry (0: none). */
  readonly mapping = new Uint32Array(SECTION_FRAMES);
  /** Page index: the vpn for anonymous pages, the file page offset for page-cache pages. */
  readonly index = new Float64Array(SECTION_FRAMES);
  /** PMD mapcount of each 512-frame block's large folio (the kernel's _entire_mapcount + 1). */
  readonly entireMapcount = new Int32Array(SECTION_FRAMES / HPAGE_PMD_NR);
  /** A driver's per-page word (zone_device_data), allocated for sections that use it. */
  zoneDeviceData: Float64Array | null = null;

  constructor(public zoneId: number) {}

  /** Zeroes frames [0, used) (frames past `used` were never touched) for reuse. */
  clear(used: number): void {
    this.refcount.fill(0, 0, used);
    this.mapcount.fill(0, 0, used);
    this.flags.fill(0, 0, used);
    this.mapping.fill(0, 0, used);
    this.index.fill(0, 0, used);
    this.entireMapcount.fill(0, 0, Math.ceil(used / HPAGE_PMD_NR));
    this.zoneDeviceData = null;
  }
}

/**
 * Sections of machines that were recycled (`PhysMem.recycle`), cleared and ready for the next one:
 * a checker that builds thousands of small machines would otherwise allocate ~1 MB each.
 */
const sectionPool: FrameSection[] = [];
const SECTION_POOL_MAX = 16;

export class Zone {
  readonly sections: number[] = [];
  usedPages = 0;
  /** Frames set aside for kernel use (zero pages, the hugetlb pool). */
  reservedPages = 0;
  /** Next never-used pfn of the newest section, and that section's end. */
  bumpPfn = 0;
  bumpEnd = 0;
  freeStack = new Int32Array(1024);
  freeTop = 0;
  /** Heads of free 512-aligned blocks, reused for large folios before fresh sections. */
  readonly freeHugeHeads: number[] = [];
  /** When set, frees go to this hook instead of the free lists (device page maps call page_free). */
  onFree: FrameFreeHook | null = null;
  /** The owner cookie of a device zone's page map (dev_pagemap.owner); null for RAM. */
  owner: unknown = null;
  /** The device page map this zone's frames belong to (null for RAM). */
  pgmap: DevPagemapLike | null = null;

  constructor(
    readonly id: number,
    readonly kind: ZoneKind,
    readonly name: string,
    readonly capacityPages: number,
  ) {}

  get freePages(): number {
    return this.capacityPages - this.usedPages - this.reservedPages;
  }
}

export interface PhysMemOptions {
  readonly ramPages: number;
  readonly contentMode: ContentMode;
}

export class PhysMem {
  private readonly sections: FrameSection[] = [];
  readonly content: FrameContent;
  readonly zones: Zone[] = [];
  readonly ram: Zone;
  /** pfn of the shared zero page. */
  readonly zeroPfn: number;
  private hugeZeroHead = 0;
  /** Where freed hugetlb folios go (set by the hugetlb pool). */
  onHugetlbFree: ((head: number) => void) | null = null;
  /**
   * Checkers only: told of every folio about to be freed ([head, head + nr)), before it returns to
   * any free list, so they can assert nothing still translates to it.
   */
  freeWatcher: ((head: number, nr: number) => void) | null = null;
  private readonly mappingObjects: (object | undefined)[] = [undefined];
  private readonly mappingRefs: number[] = [0];
  private readonly freeMappingIds: number[] = [];

  constructor(options: PhysMemOptions) {
    if (!Number.isInteger(options.ramPages) || options.ramPages < 1024) {
      throw new RangeError(`RAM must be at least 1024 pages (4 MiB), got ${options.ramPages}`);
    }
    this.content = new FrameContent(options.contentMode);
    this.ram = this.addZone(ZONE_RAM, 'ram', options.ramPages);
    // pfn 0 is never handed out, so 0 can mean "no frame" everywhere.
    this.claimSection(this.ram);
    this.ram.bumpPfn = 1;
    this.zeroPfn = this.allocReserved(this.ram);
    this.setPageFlag(this.zeroPfn, PG_ZERO);
  }

  /** Adds a zone of `capacityPages` frames; its pfns are claimed in sections as it fills. */
  addZone(kind: ZoneKind, name: string, capacityPages: number): Zone {
    const zone = new Zone(this.zones.length, kind, name, capacityPages);
    this.zones.push(zone);
    return zone;
  }

  // ---- per-frame metadata -----------------------------------------------------------------------

  pageFlags(pfn: number): number {
    return this.sections[pfn >>> SECTION_SHIFT].flags[pfn & SECTION_MASK];
  }

  setPageFlag(pfn: number, bits: number): void {
    this.sections[pfn >>> SECTION_SHIFT].flags[pfn & SECTION_MASK] |= bits;
  }

  clearPageFlag(pfn: number, bits: number): void {
    this.sections[pfn >>> SECTION_SHIFT].flags[pfn & SECTION_MASK] &= ~bits;
  }

  testPageFlag(pfn: number, bits: number): boolean {
    return (this.sections[pfn >>> SECTION_SHIFT].flags[pfn & SECTION_MASK] & bits) !== 0;
  }

  /** The raw per-frame refcount (meaningful on a folio's head; see folioRefcount). */
  refcountOf(pfn: number): number {
    return this.sections[pfn >>> SECTION_SHIFT].refcount[pfn & SECTION_MASK];
  }

  mapcountOf(pfn: number): number {
    return this.sections[pfn >>> SECTION_SHIFT].mapcount[pfn & SECTION_MASK];
  }

  addMapcount(pfn: number, delta: number): void {
    this.sections[pfn >>> SECTION_SHIFT].mapcount[pfn & SECTION_MASK] += delta;
  }

  /** The PMD mapcount of the large folio whose head is `head`. */
  entireMapcountOf(head: number): number {
    return this.sections[head >>> SECTION_SHIFT].entireMapcount[(head & SECTION_MASK) >>> 9];
  }

  addEntireMapcount(head: number, delta: number): void {
    this.sections[head >>> SECTION_SHIFT].entireMapcount[(head & SECTION_MASK) >>> 9] += delta;
  }

  mappingOf(pfn: number): number {
    return this.sections[pfn >>> SECTION_SHIFT].mapping[pfn & SECTION_MASK];
  }

  indexOf(pfn: number): number {
    return this.sections[pfn >>> SECTION_SHIFT].index[pfn & SECTION_MASK];
  }

  zoneDeviceDataOf(pfn: number): number {
    const d = this.sections[pfn >>> SECTION_SHIFT].zoneDeviceData;
    return d === null ? 0 : d[pfn & SECTION_MASK];
  }

  setZoneDeviceData(pfn: number, value: number): void {
    const s = this.sections[pfn >>> SECTION_SHIFT];
    if (s.zoneDeviceData === null) s.zoneDeviceData = new Float64Array(SECTION_FRAMES);
    s.zoneDeviceData[pfn & SECTION_MASK] = value;
  }

  // ---- allocation -------------------------------------------------------------------------------

  /** Allocates one frame: refcount 1, zeroed content. Returns its pfn, or -ENOMEM. */
  allocPage(zone: Zone = this.ram): number {
    if (zone.usedPages + zone.reservedPages >= zone.capacityPages) return -ENOMEM;
    let pfn: number;
    if (zone.freeTop > 0) {
      pfn = zone.freeStack[--zone.freeTop];
    } else if (zone.bumpPfn < zone.bumpEnd) {
      pfn = zone.bumpPfn++;
    } else if (zone.freeHugeHeads.length > 0) {
      // Break a free 2 MiB block into single frames.
      const head = zone.freeHugeHeads.pop()!;
      for (let p = head + HPAGE_PMD_NR - 1; p > head; p--) this.pushFree(zone, p);
      pfn = head;
    } else {
      this.claimSection(zone);
      pfn = zone.bumpPfn++;
    }
    zone.usedPages++;
    const s = this.sections[pfn >>> SECTION_SHIFT];
    const o = pfn & SECTION_MASK;
    s.flags[o] = PG_ALLOCATED;
    s.refcount[o] = 1;
    s.mapcount[o] = 0;
    s.mapping[o] = 0;
    this.content.zero(pfn);
    return pfn;
  }

  /**
   * Allocates a 512-frame large folio at a 512-aligned pfn, refcount 1 on the head, zeroed.
   * Returns the head pfn, or -ENOMEM when the zone has no room or no free aligned block (the
   * caller falls back to small pages, as the kernel does when a THP allocation fails).
   */
  allocHugeFolio(zone: Zone = this.ram): number {
    if (zone.usedPages + zone.reservedPages + HPAGE_PMD_NR > zone.capacityPages) return -ENOMEM;
    const head = this.takeHugeBlock(zone);
    if (head < 0) return head;
    zone.usedPages += HPAGE_PMD_NR;
    this.initFolio(head);
    this.sections[head >>> SECTION_SHIFT].refcount[head & SECTION_MASK] = 1;
    return head;
  }

  /** The huge zero page's head pfn, set up on first use like the kernel's lazily allocated one. */
  hugeZeroPfn(): number {
    if (this.hugeZeroHead === 0) {
      if (this.ram.usedPages + this.ram.reservedPages + HPAGE_PMD_NR > this.ram.capacityPages) return -ENOMEM;
      const head = this.takeHugeBlock(this.ram);
      if (head < 0) return head;
      this.ram.reservedPages += HPAGE_PMD_NR;
      this.initFolio(head);
      for (let p = head; p < head + HPAGE_PMD_NR; p++) this.setPageFlag(p, PG_ZERO | PG_RESERVED);
      this.hugeZeroHead = head;
    }
    return this.hugeZeroHead;
  }

  /**
   * Moves `nrHuge` 2 MiB blocks out of the zone into a reserved pool (the hugetlb pool). Returns their
   * heads, or -ENOMEM. Pool frames stay allocated-but-reserved; the pool hands them out as folios.
   */
  reserveHugeBlocks(zone: Zone, nrHuge: number): number[] | number {
    if (zone.usedPages + zone.reservedPages + nrHuge * HPAGE_PMD_NR > zone.capacityPages) return -ENOMEM;
    const heads: number[] = [];
    for (let i = 0; i < nrHuge; i++) {
      const head = this.takeHugeBlock(zone);
      if (head < 0) throw new InvariantError('no aligned block while reserving the hugetlb pool');
      zone.reservedPages += HPAGE_PMD_NR;
      this.initFolio(head);
      for (let p = head; p < head + HPAGE_PMD_NR; p++) this.setPageFlag(p, PG_RESERVED | PG_HUGETLB);
      heads.push(head);
    }
    return heads;
  }

  /** Returns a freed device frame to its zone's free list (the driver's allocator takes it again). */
  returnToZone(pfn: number): void {
    const zone = this.zone(pfn);
    this.pushFree(zone, pfn);
  }

  /** zone_device_page_init: a free frame of a device zone, refcount 1 and locked; -ENOMEM if none. */
  allocDevicePage(zone: Zone): number {
    const pfn = this.allocPage(zone);
    if (pfn < 0) return pfn;
    this.setPageFlag(pfn, PG_LOCKED);
    return pfn;
  }

  /**
   * Turns a large folio into 512 small ones (the folio part of split_huge_page): each frame keeps
   * one reference per PTE mapping it has, and the head also keeps `extraOnHead` (the caller's).
   * The folio must not be PMD-mapped any more.
   */
  splitLargeFolio(head: number, extraOnHead: number): void {
    if (this.entireMapcountOf(head) !== 0)
      throw new InvariantError('splitting a folio that is still PMD-mapped', { head });
    for (let p = head; p < head + HPAGE_PMD_NR; p++) {
      const s = this.sections[p >>> SECTION_SHIFT];
      const o = p & SECTION_MASK;
      s.flags[o] &= ~(PG_HEAD | PG_TAIL);
      s.refcount[o] = s.mapcount[o] + (p === head ? extraOnHead : 0);
    }
    // Pages no mapping holds any more (unmapped parts of the THP) are freed by the split.
    for (let p = head; p < head + HPAGE_PMD_NR; p++) if (this.refcountOf(p) === 0) this.freeFolio(p);
  }

  /** Gives a hugetlb pool folio its first reference (the pool hands it out). */
  initHugetlbRef(head: number): void {
    this.sections[head >>> SECTION_SHIFT].refcount[head & SECTION_MASK] = 1;
  }

  // ---- reference counts -------------------------------------------------------------------------

  /** The head frame of the folio containing `pfn`. */
  folioHead(pfn: number): number {
    return this.testPageFlag(pfn, PG_TAIL) ? pfn - (pfn & (HPAGE_PMD_NR - 1)) : pfn;
  }

  isLargeFolio(pfn: number): boolean {
    return this.testPageFlag(pfn, PG_HEAD | PG_TAIL);
  }

  /** folio_get: one more reference on the folio containing `pfn`. */
  get(pfn: number, n = 1): void {
    const head = this.folioHead(pfn);
    const s = this.sections[head >>> SECTION_SHIFT];
    const o = head & SECTION_MASK;
    if (s.refcount[o] <= 0 && !(s.flags[o] & PG_ZERO)) {
      throw new InvariantError('folio_get on a free folio', { pfn, head, refcount: s.refcount[o] });
    }
    s.refcount[o] += n;
  }

  /** folio_put: drops a reference; the folio is freed when the last one goes. */
  put(pfn: number, n = 1): void {
    const head = this.folioHead(pfn);
    const s = this.sections[head >>> SECTION_SHIFT];
    const o = head & SECTION_MASK;
    if (s.flags[o] & PG_ZERO) return;
    const rc = s.refcount[o] - n;
    if (rc < 0) throw new InvariantError('folio refcount dropped below zero', { pfn, head, refcount: rc });
    s.refcount[o] = rc;
    if (rc === 0) this.freeFolio(head);
  }

  folioRefcount(pfn: number): number {
    return this.refcountOf(this.folioHead(pfn));
  }

  /** Total mappings of the folio containing `pfn` (per-frame PTE maps plus 512 per PMD map). */
  folioMapcount(pfn: number): number {
    const head = this.folioHead(pfn);
    if (!this.testPageFlag(head, PG_HEAD)) return this.mapcountOf(head);
    let n = this.entireMapcountOf(head) * HPAGE_PMD_NR;
    for (let p = head; p < head + HPAGE_PMD_NR; p++) n += this.mapcountOf(p);
    return n;
  }

  /** folio_trylock. */
  trylock(pfn: number): boolean {
    const head = this.folioHead(pfn);
    if (this.testPageFlag(head, PG_LOCKED)) return false;
    this.setPageFlag(head, PG_LOCKED);
    return true;
  }

  unlock(pfn: number): void {
    const head = this.folioHead(pfn);
    if (!this.testPageFlag(head, PG_LOCKED))
      throw new InvariantError('unlocking a folio that is not locked', { pfn });
    this.clearPageFlag(head, PG_LOCKED);
  }

  isLocked(pfn: number): boolean {
    return this.testPageFlag(this.folioHead(pfn), PG_LOCKED);
  }

  isZeroPfn(pfn: number): boolean {
    return this.testPageFlag(pfn, PG_ZERO);
  }

  zone(pfn: number): Zone {
    return this.zones[this.sections[pfn >>> SECTION_SHIFT].zoneId];
  }

  // ---- mapping objects (anon_vma, page cache) ---------------------------------------------------

  /**
   * Registers an anon_vma or page cache under a small integer id, with one reference held by the
   * caller. Frames that name it hold one reference each, so the id stays valid while any frame
   * still points at it.
   */
  registerMapping(obj: object): number {
    const id = this.freeMappingIds.pop() ?? this.mappingObjects.length;
    this.mappingObjects[id] = obj;
    this.mappingRefs[id] = 1;
    return id;
  }

  mappingGet(id: number): void {
    if (this.mappingObjects[id] === undefined)
      throw new InvariantError('reference to a freed mapping id', { id });
    this.mappingRefs[id]++;
  }

  mappingPut(id: number): void {
    const refs = --this.mappingRefs[id];
    if (refs < 0) throw new InvariantError('mapping id reference count below zero', { id });
    if (refs === 0) {
      this.mappingObjects[id] = undefined;
      this.freeMappingIds.push(id);
    }
  }

  mappingObject(id: number): object | undefined {
    return this.mappingObjects[id];
  }

  /** Points a frame at a mapping (anon_vma or page cache) and page index; `anon` sets PageAnon. */
  setMapping(pfn: number, id: number, index: number, anon: boolean): void {
    const s = this.sections[pfn >>> SECTION_SHIFT];
    const o = pfn & SECTION_MASK;
    const old = s.mapping[o];
    if (old !== id) {
      this.mappingRefs[id]++;
      if (old !== 0) this.mappingPut(old);
      s.mapping[o] = id;
    }
    s.index[o] = index;
    s.flags[o] = (s.flags[o] & ~(PG_ANON | PG_PAGECACHE)) | (anon ? PG_ANON : PG_PAGECACHE);
  }

  /** Detaches a frame from its mapping (truncation from a page cache, or freeing). */
  clearMapping(pfn: number): void {
    const s = this.sections[pfn >>> SECTION_SHIFT];
    const o = pfn & SECTION_MASK;
    const old = s.mapping[o];
    if (old !== 0) {
      s.mapping[o] = 0;
      this.mappingPut(old);
    }
    s.flags[o] &= ~(PG_ANON | PG_PAGECACHE | PG_ANON_EXCLUSIVE);
  }

  /** Number of live mapping ids (anon_vmas and page caches), for leak checks. */
  get liveMappings(): number {
    return this.mappingObjects.length - 1 - this.freeMappingIds.length;
  }

  // ---- accounting -------------------------------------------------------------------------------

  /** Frames currently allocated from `zone` (not counting reserved frames). */
  usedPages(zone: Zone = this.ram): number {
    return zone.usedPages;
  }

  /** Highest pfn + 1 that any zone has claimed. */
  get pfnLimit(): number {
    return this.sections.length * SECTION_FRAMES;
  }

  /** Above every pfn ever handed out (frames past it have never been used): checkers scan below it. */
  get usedPfnLimit(): number {
    let limit = 1;
    for (const z of this.zones) if (z.bumpPfn > limit) limit = z.bumpPfn;
    return limit;
  }

  /** Whether `pfn` lies in a claimed section (so its metadata exists). */
  isValidPfn(pfn: number): boolean {
    return Number.isInteger(pfn) && pfn > 0 && pfn < this.pfnLimit;
  }

  /** Every allocated, non-reserved frame of a zone, for leak checks. */
  *allocatedFrames(zone: Zone = this.ram): Generator<number> {
    for (const base of zone.sections) {
      for (let pfn = base; pfn < base + SECTION_FRAMES; pfn++) {
        if ((this.pageFlags(pfn) & (PG_ALLOCATED | PG_RESERVED)) === PG_ALLOCATED) yield pfn;
      }
    }
  }

  // ---- internals --------------------------------------------------------------------------------

  private freeFolio(head: number): void {
    const s = this.sections[head >>> SECTION_SHIFT];
    const zone = this.zones[s.zoneId];
    const large = (s.flags[head & SECTION_MASK] & PG_HEAD) !== 0;
    const n = large ? HPAGE_PMD_NR : 1;
    if (this.freeWatcher !== null) this.freeWatcher(head, n);
    for (let p = head; p < head + n; p++) {
      if (this.mapcountOf(p) !== 0)
        throw new InvariantError('freeing a frame that is still mapped', { pfn: p });
    }
    if (large && this.entireMapcountOf(head) !== 0) {
      throw new InvariantError('freeing a large folio that is still PMD-mapped', { pfn: head });
    }
    for (let p = head; p < head + n; p++) this.clearMapping(p);
    if (s.flags[head & SECTION_MASK] & PG_HUGETLB) {
      // Hugetlb folios return to their pool, which tracks them; their frames stay reserved.
      for (let p = head; p < head + n; p++) this.clearPageFlag(p, PG_DIRTY | PG_LOCKED);
      if (this.onHugetlbFree === null)
        throw new InvariantError('hugetlb folio freed without a pool', { head });
      this.onHugetlbFree(head);
      return;
    }
    for (let p = head; p < head + n; p++) s.flags[p & SECTION_MASK] = 0;
    zone.usedPages -= n;
    if (zone.onFree !== null) {
      zone.onFree(head, n);
      return;
    }
    if (large) zone.freeHugeHeads.push(head);
    else this.pushFree(zone, head);
  }

  private pushFree(zone: Zone, pfn: number): void {
    if (zone.freeTop === zone.freeStack.length) {
      const grown = new Int32Array(zone.freeStack.length * 2);
      grown.set(zone.freeStack);
      zone.freeStack = grown;
    }
    zone.freeStack[zone.freeTop++] = pfn;
  }

  private takeHugeBlock(zone: Zone): number {
    if (zone.freeHugeHeads.length > 0) return zone.freeHugeHeads.pop()!;
    let start = Math.ceil(zone.bumpPfn / HPAGE_PMD_NR) * HPAGE_PMD_NR;
    if (start + HPAGE_PMD_NR > zone.bumpEnd) {
      // Give the rest of the current section to the small-page free list and start a new one,
      // as long as the zone may still grow by a section.
      if (zone.sections.length * SECTION_FRAMES >= zone.capacityPages + SECTION_FRAMES) return -ENOMEM;
      for (let p = zone.bumpPfn; p < zone.bumpEnd; p++) this.pushFree(zone, p);
      this.claimSection(zone);
      start = zone.bumpPfn;
    }
    for (let p = zone.bumpPfn; p < start; p++) this.pushFree(zone, p);
    zone.bumpPfn = start + HPAGE_PMD_NR;
    return start;
  }

  /**
   * Gives this machine's frame metadata back for the next PhysMem to reuse. The machine must not be
   * used afterwards (checkers that build a machine per run call it when a run is over).
   */
  recycle(): void {
    for (let i = 0; i < this.sections.length; i++) {
      if (sectionPool.length >= SECTION_POOL_MAX) break;
      const base = i * SECTION_FRAMES;
      const zone = this.zones[this.sections[i].zoneId];
      const newest = zone.sections[zone.sections.length - 1] === base;
      const used = newest ? zone.bumpPfn - base : SECTION_FRAMES;
      this.sections[i].clear(Math.max(0, Math.min(SECTION_FRAMES, used)));
      sectionPool.push(this.sections[i]);
      this.content.recycleSection(i, Math.max(0, Math.min(SECTION_FRAMES, used)));
    }
    this.sections.length = 0;
  }

  private claimSection(zone: Zone): void {
    const index = this.sections.length;
    const reused = sectionPool.pop();
    if (reused !== undefined) reused.zoneId = zone.id;
    this.sections.push(reused ?? new FrameSection(zone.id));
    this.content.addSection(index);
    const base = index * SECTION_FRAMES;
    zone.sections.push(base);
    zone.bumpPfn = base;
    zone.bumpEnd = base + SECTION_FRAMES;
  }

  private allocReserved(zone: Zone): number {
    const pfn = zone.bumpPfn++;
    this.initFrame(pfn);
    this.setPageFlag(pfn, PG_RESERVED);
    zone.reservedPages++;
    return pfn;
  }

  private initFrame(pfn: number): void {
    const s = this.sections[pfn >>> SECTION_SHIFT];
    const o = pfn & SECTION_MASK;
    s.flags[o] = PG_ALLOCATED;
    s.refcount[o] = 0;
    s.mapcount[o] = 0;
    s.mapping[o] = 0;
    s.index[o] = 0;
    if (s.zoneDeviceData !== null) s.zoneDeviceData[o] = 0;
    this.content.zero(pfn);
  }

  private initFolio(head: number): void {
    for (let p = head; p < head + HPAGE_PMD_NR; p++) {
      this.initFrame(p);
      this.setPageFlag(p, PG_TAIL);
    }
    const s = this.sections[head >>> SECTION_SHIFT];
    s.flags[head & SECTION_MASK] = (s.flags[head & SECTION_MASK] & ~PG_TAIL) | PG_HEAD;
    s.entireMapcount[(head & SECTION_MASK) >>> 9] = 0;
  }
}
