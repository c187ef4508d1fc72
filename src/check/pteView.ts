// The CPU's page-table entry for one page, read from outside the model by the checks (and the
// tests): its flag word, its frame and its kind.

import type { Mm } from '../mm/mm.js';
import { PTE_KIND_MASK } from '../mm/pte.js';

export interface PteView {
  readonly flags: number;
  readonly pfn: number;
  /** `flags & PTE_KIND_MASK`. */
  readonly kind: number;
}

/** The 4 KiB entry for `vpn` (all 0 when there is no page table there). */
export function pteAt(mm: Mm, vpn: number): PteView {
  const t = mm.pt.pteTable(vpn);
  if (t === null) return { flags: 0, pfn: 0, kind: 0 };
  const f = t.e[(vpn & 511) * 2];
  return { flags: f, pfn: t.e[(vpn & 511) * 2 + 1], kind: f & PTE_KIND_MASK };
}
