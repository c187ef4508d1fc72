// Recounts, from the structures that hold them, what every frame's reference count, mapcounts and
// every mm's RSS counters must be, and reports each disagreement. It observes the model from outside
// (it never trusts the counters it checks), so a missed get/put or a stale entry shows up here.

import { HPAGE_PMD_NR } from '../mm/constants.js';
import type { OpenFile } from '../mm/file.js';
import type { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import {
  PG_ALLOCATED,
  PG_ANON,
  PG_HEAD,
  PG_HUGETLB,
  PG_PAGECACHE,
  PG_RESERVED,
  PG_TAIL,
} from '../mm/physmem.js';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_SPECIAL,
} from '../mm/pte.js';

/** References a caller knows about beyond page tables and page caches (driver pins, in-flight I/O). */
export type ExtraRefs = ReadonlyMap<number, number>;

export interface AuditOptions {
  /** Open files to include besides those reachable from processes and VMAs (held by drivers). */
  readonly extraFiles?: Iterable<OpenFile>;
  readonly extraRefs?: ExtraRefs;
}

/** Returns a list of problems (empty when the model is consistent). */
export function auditMm(kernel: Kernel, options: AuditOptions = {}): string[] {
  const mem = kernel.mem;
  const problems: string[] = [];
  // Frames past the highest ever handed out hold no state: nothing to recount there.
  const limit = mem.usedPfnLimit;
  const refs = new Int32Array(limit);
  const mapcount = new Int32Array(limit);
  const entire = new Int32Array(limit);
  const head = (pfn: number) => mem.folioHead(pfn);

  const files = new Set<OpenFile>(options.extraFiles ?? []);
  for (const task of kernel.tasks.values()) for (const f of task.fds.values()) files.add(f);

  for (const mm of kernel.mms) {
    let rss = 0;
    for (const vma of mm.vmas.toArray()) {
      if (vma.file !== null) files.add(vma.file);
      for (let vpn = vma.start; vpn < vma.end;) {
        const table = mm.pt.pteTable(vpn);
        const blockEnd = Math.min(vma.end, vpn - (vpn % HPAGE_PMD_NR) + HPAGE_PMD_NR);
        if (table !== null) {
          for (; vpn < blockEnd; vpn++) {
            const f = table.e[(vpn & 511) * 2];
            const pfn = table.e[(vpn & 511) * 2 + 1];
            const kind = f & PTE_KIND_MASK;
            if (kind === PTE_PRESENT && f & PTE_SPECIAL) continue;
            if (kind === PTE_PRESENT || kind === PTE_DEVICE_PRIVATE) {
              mapcount[pfn]++;
              refs[head(pfn)]++;
              rss++;
            } else if (kind === PTE_DEVICE_EXCLUSIVE) {
              refs[head(pfn)]++;
              rss++;
            } else if (kind === PTE_MIGRATION) {
              rss++;
            }
          }
          continue;
        }
        const hf = mm.pt.hugeFlags(vpn);
        if ((hf & PTE_KIND_MASK) === PTE_PRESENT && !(hf & PTE_SPECIAL)) {
          const h = mm.pt.hugePfn(vpn);
          entire[h]++;
          refs[h]++;
          rss += HPAGE_PMD_NR;
        }
        vpn = blockEnd;
      }
    }
    if (!mm.torndown && rss !== mm.rssPages)
      problems.push(`mm ${mm.id}: RSS counters say ${mm.rssPages}, tables map ${rss}`);
    if (mm.torndown && (mm.vmas.size > 0 || mm.rssPages !== 0)) {
      problems.push(`mm ${mm.id}: torn down but still has ${mm.vmas.size} VMAs, RSS ${mm.rssPages}`);
    }
  }
  for (const file of files) {
    const cache = file.inode.pageCache;
    if (cache === null) continue;
    for (const [, pfn] of cache.entries()) refs[head(pfn)]++;
  }
  // Each cache was counted once per file pointing at it; count inodes, not files.
  const seen = new Set<object>();
  for (const file of files) {
    const cache = file.inode.pageCache;
    if (cache === null) continue;
    if (seen.has(cache)) for (const [, pfn] of cache.entries()) refs[head(pfn)]--;
    seen.add(cache);
  }
  for (const [pfn, n] of options.extraRefs ?? []) refs[head(pfn)] += n;

  for (let pfn = 1; pfn < limit; pfn++) {
    const flags = mem.pageFlags(pfn);
    if (flags & PG_RESERVED && !(flags & PG_HUGETLB)) continue;
    const allocated =
      (flags & PG_ALLOCATED) !== 0 && (!(flags & PG_HUGETLB) || mem.refcountOf(head(pfn)) > 0);
    if (mapcount[pfn] !== mem.mapcountOf(pfn)) {
      problems.push(`pfn ${pfn}: mapcount ${mem.mapcountOf(pfn)}, page tables map it ${mapcount[pfn]} times`);
    }
    if (flags & PG_TAIL) continue;
    if (flags & PG_HEAD && entire[pfn] !== mem.entireMapcountOf(pfn)) {
      problems.push(
        `pfn ${pfn}: PMD mapcount ${mem.entireMapcountOf(pfn)}, page tables map it ${entire[pfn]} times`,
      );
    }
    const rc = flags & (PG_HEAD | PG_ALLOCATED) ? mem.refcountOf(pfn) : 0;
    if (refs[pfn] !== (allocated ? rc : 0)) {
      const what = flags & PG_ANON ? 'anon' : flags & PG_PAGECACHE ? 'page cache' : 'other';
      problems.push(`pfn ${pfn} (${what}): refcount ${allocated ? rc : 'free'}, holders found ${refs[pfn]}`);
    }
    if (problems.length > 50) break;
  }
  return problems;
}

/** Every mm that is still alive, with why (its users and count), for leak reports. */
export function liveMms(kernel: Kernel): Mm[] {
  return [...kernel.mms];
}
