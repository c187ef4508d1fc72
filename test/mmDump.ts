// A complete, comparable picture of a kernel's address spaces: every VMA and every non-none entry
// (PTE or huge PMD) with its frame and that frame's content checksum, plus allocation counts.

import type { Kernel } from '../src/mm/kernel.js';
import { fnv1a } from './pattern.js';

export function dumpKernel(kernel: Kernel): string {
  const mem = kernel.mem;
  const out: string[] = [`used ${mem.usedPages()} mappings ${mem.liveMappings} mms ${kernel.mms.size}`];
  const page = new Uint8Array(4096);
  for (const mm of kernel.mms) {
    out.push(`mm ${mm.id} users ${mm.users} count ${mm.count} rss ${mm.rssPages}`);
    for (const vma of mm.vmas.toArray()) {
      out.push(`  vma ${vma.start}-${vma.end} flags ${vma.flags.toString(16)} pgoff ${vma.pgoff}`);
      for (let vpn = vma.start; vpn < vma.end; vpn++) {
        const table = mm.pt.pteTable(vpn);
        let f: number;
        let pfn: number;
        if (table !== null) {
          f = table.e[(vpn & 511) * 2];
          pfn = table.e[(vpn & 511) * 2 + 1];
        } else {
          f = mm.pt.hugeFlags(vpn);
          pfn = f === 0 ? 0 : mm.pt.hugePfn(vpn) + (vpn % 512);
        }
        if (f === 0) continue;
        let sum = '-';
        if (mem.content.mode === 'bytes') {
          mem.content.read(pfn, 0, page, 0, 4096);
          sum = fnv1a(page);
        }
        out.push(`    ${vpn} ${f.toString(16)} ${pfn} ${sum}`);
      }
    }
  }
  out.push(JSON.stringify(kernel.stats.snapshot()));
  return out.join('\n');
}
