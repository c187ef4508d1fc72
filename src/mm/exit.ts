// Models exit_mmap (mm/mmap.c), run when an mm's last user goes: notifier release first (interval
// subscriptions get RELEASE, classic ones their release callback), then one UNMAP invalidation over
// the whole space while every entry is zapped, then the page tables, then the VMAs with their file
// and anon_vma references. The mm object itself lives on while mm_count holders remain.

import { VPN_END_MAX } from './constants.js';
import type { Mm } from './mm.js';
import { invalidateRangeEnd, invalidateRangeStart, MMU_NOTIFY_UNMAP } from './mmuNotify.js';
import { releaseVma } from './vmaOps.js';
import { zapVmaRange } from './zap.js';

export function exitMmap(mm: Mm): void {
  if (mm.notifier !== null) mm.notifier.release(mm);
  const kernel = mm.kernel;
  const vmas = mm.vmas.toArray();
  const tlb = kernel.acquireGather(mm);
  const range = invalidateRangeStart(mm, MMU_NOTIFY_UNMAP, 0, VPN_END_MAX);
  for (const vma of vmas) zapVmaRange(tlb, vma, vma.start, vma.end);
  invalidateRangeEnd(range);
  mm.pt.freeAll();
  kernel.releaseGather(tlb);
  for (const vma of vmas) releaseVma(vma);
  mm.torndown = true;
}
