// Models vm_insert_page (mm/memory.c): a driver maps one of its own pages into a VMA it is setting
// up (the dmirror device's mmap does this). The VMA becomes VM_MIXEDMAP; the entry is made from the
// VMA's page protection (read-only in a private mapping, so a write copies), and the mapping takes
// a reference, a mapcount and a file-RSS count.

import { EBUSY, EFAULT } from '../sim/errno.js';
import { VM_MIXEDMAP, VM_PFNMAP } from './constants.js';
import { PTE_KIND_MASK, PTE_NONE, PTE_PRESENT, PTE_YOUNG } from './pte.js';
import { addRmapPte } from './rmap.js';
import { type Vma, vmaPageProt } from './vma.js';

/** vm_insert_page: 0, -EFAULT (outside the VMA), -EINVAL (a PFN map) or -EBUSY (already mapped). */
export function vmInsertPage(vma: Vma, vpn: number, pfn: number): number {
  if (!vma.contains(vpn)) return -EFAULT;
  if (vma.flags & VM_PFNMAP) return -EFAULT;
  vma.flags |= VM_MIXEDMAP;
  const mm = vma.mm;
  const mem = mm.kernel.mem;
  const table = mm.pt.allocPteTable(vpn);
  const i = (vpn & 511) * 2;
  if ((table.e[i] & PTE_KIND_MASK) !== PTE_NONE) return -EBUSY;
  mem.get(pfn);
  addRmapPte(mem, mm, pfn);
  table.e[i] = PTE_PRESENT | PTE_YOUNG | vmaPageProt(vma);
  table.e[i + 1] = pfn;
  return 0;
}
