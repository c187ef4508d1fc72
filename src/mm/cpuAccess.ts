// Models user-space loads and stores (the x86 page-fault path of do_user_addr_fault): a present
// entry that allows the access is used directly (setting the accessed and dirty bits, as the MMU
// does); otherwise the VMA is checked (no VMA, or no permission: SIGSEGV) and the fault handler runs
// until the entry allows the access (SIGBUS when the handler says so).

import { LimitError } from '../sim/errors.js';
import {
  FAULT_FLAG_WRITE,
  VM_ACCESS_FLAGS,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_WRITE,
} from './constants.js';
import { handleMmFault } from './fault.js';
import type { Mm } from './mm.js';
import { PTE_DIRTY, PTE_KIND_MASK, PTE_PRESENT, PTE_PROTNONE, PTE_WRITE, PTE_YOUNG } from './pte.js';

export const SIGBUS = 7;
export const SIGSEGV = 11;
/** Not a signal: the fault ran out of memory (the OOM killer would pick a victim). */
export const ACCESS_OOM = 1000;

const MAX_RETRIES = 64;

/**
 * One CPU access to page `vpn` of `mm`. Returns the pfn of the frame the access reached, or
 * `-SIGSEGV`, `-SIGBUS`, `-ACCESS_OOM`.
 */
export function cpuAccessPage(mm: Mm, vpn: number, write: boolean): number {
  const need = PTE_PRESENT | (write ? PTE_WRITE : 0);
  const mask = PTE_KIND_MASK | PTE_PROTNONE | (write ? PTE_WRITE : 0);
  const touched = PTE_YOUNG | (write ? PTE_DIRTY : 0);
  for (let tries = 0; ; tries++) {
    const pt = mm.pt;
    const table = pt.pteTable(vpn);
    if (table !== null) {
      const i = (vpn & 511) * 2;
      const f = table.e[i];
      if ((f & mask) === need) {
        table.e[i] = f | touched;
        return table.e[i + 1];
      }
    } else {
      const hf = pt.hugeFlags(vpn);
      if ((hf & mask) === need) {
        pt.setHuge(vpn, hf | touched, pt.hugePfn(vpn));
        return pt.hugePfn(vpn) + (vpn & 511);
      }
    }
    if (tries === MAX_RETRIES) {
      throw new LimitError('cpu.faultRetries', MAX_RETRIES, `CPU access to page ${vpn} kept faulting`);
    }
    const vma = mm.vmas.find(vpn);
    if (vma === null) return -SIGSEGV;
    if (write ? !(vma.flags & VM_WRITE) : !(vma.flags & VM_ACCESS_FLAGS)) return -SIGSEGV;
    mm.kernel.stats.add(mm.kernel.ctr.cpuFaults);
    const ret = handleMmFault(vma, vpn, write ? FAULT_FLAG_WRITE : 0);
    if (ret & VM_FAULT_OOM) return -ACCESS_OOM;
    if (ret & VM_FAULT_SIGBUS) return -SIGBUS;
    if (ret & VM_FAULT_SIGSEGV) return -SIGSEGV;
  }
}
