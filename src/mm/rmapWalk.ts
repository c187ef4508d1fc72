// Models rmap_walk (mm/rmap.c): from a page to every (VMA, address) that may map it. An anonymous
// page is found through its anon_vma (the VMA it was created in and every VMA forked from it), a
// page-cache page through its file's i_mmap; the address follows from the page's index. VMAs are
// visited in the order of the kernel's interval trees (by page offset, older first), and callers
// check the entry at that address, since "may map" is not "maps".

import { AnonVma } from './anonVma.js';
import { PageCache } from './file.js';
import type { PhysMem } from './physmem.js';
import type { Vma } from './vma.js';

function byTreeOrder(a: Vma, b: Vma): number {
  return a.pgoff - b.pgoff || a.id - b.id;
}

/**
 * Calls `visit(vma, vpn)` for every place `pfn` may be mapped. `done` (rmap_walk_control.done) is
 * asked after each visit and ends the walk when it returns true.
 */
export function rmapWalk(
  mem: PhysMem,
  pfn: number,
  visit: (vma: Vma, vpn: number) => void,
  done?: () => boolean,
): void {
  const obj = mem.mappingObject(mem.mappingOf(pfn));
  const index = mem.indexOf(pfn);
  let places: [Vma, number][] = [];
  if (obj instanceof AnonVma) {
    for (const vma of obj.vmas) if (index >= vma.start && index < vma.end) places.push([vma, index]);
  } else if (obj instanceof PageCache) {
    for (const vma of obj.vmas) {
      const vpn = vma.start + (index - vma.pgoff);
      if (vpn >= vma.start && vpn < vma.end) places.push([vma, vpn]);
    }
  }
  if (places.length > 1) places = places.sort((x, y) => byTreeOrder(x[0], y[0]));
  for (const [vma, vpn] of places) {
    visit(vma, vpn);
    if (done?.()) return;
  }
}
