// Process teardown against mmu-notifiers.md section 6: exit_mmap's order (interval RELEASE, classic
// release, list emptied, whole-space UNMAP to interval subscriptions only), what survives teardown,
// and the exit ordering of address space before files. Every test is named after the rule(s) it
// checks.

import { beforeEach, describe, expect, it } from 'vitest';
import { EINVAL } from '../sim/errno.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  VPN_END_MAX,
} from '../mm/constants.js';
import { Inode, OpenFile } from '../mm/file.js';
import { entryFlags } from '../mm/gup.js';
import { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import { MMU_NOTIFY_EVENT_NAMES, type MmuNotifierRange } from '../mm/mmuNotify.js';
import { PTE_KIND_MASK, PTE_PRESENT } from '../mm/pte.js';
import type { Task } from '../mm/task.js';
import { MmuNotifier, type MmuNotifierOps, mmuNotifierRegister, mmuNotifierUnregister } from './classic.js';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from './interval.js';
import { MmuNotifierSubscriptions } from './subscriptions.js';

const BASE = 0x100000000000;
const V = BASE / PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;

let kernel: Kernel;
let task: Task;
let mm: Mm;

beforeEach(() => {
  kernel = new Kernel({ ramBytes: 64 * 1024 * 1024 });
  task = kernel.spawn();
  mm = task.mm!;
});

function mapAndFill(npages: number): void {
  expect(task.mmap(BASE, npages * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  expect(task.write(BASE, new Uint8Array(npages * PAGE_SIZE).fill(9)).signal).toBe(0);
}

function present(vpn: number): boolean {
  return (entryFlags(mm, vpn) & PTE_KIND_MASK) === PTE_PRESENT;
}

function desc(r: MmuNotifierRange): string {
  const where = r.startVpn === 0 && r.endVpn === VPN_END_MAX ? 'all' : `${r.startVpn - V} ${r.endVpn - V}`;
  return `${MMU_NOTIFY_EVENT_NAMES[r.event]} ${where}`;
}

function classic(name: string, log: string[], extra: MmuNotifierOps = {}): MmuNotifier {
  const sub = new MmuNotifier({
    invalidateRangeStart: (_s, r) => {
      log.push(`${name}.start ${desc(r)}`);
      return 0;
    },
    invalidateRangeEnd: (_s, r) => {
      log.push(`${name}.end ${desc(r)}`);
    },
    release: (s, m) => {
      log.push(`${name}.release ${s.mm === m} present=${present(V)}`);
    },
    ...extra,
  });
  expect(mmuNotifierRegister(sub, mm)).toBe(0);
  return sub;
}

function interval(
  name: string,
  log: string[],
  startVpn: number,
  npages: number,
  answer = true,
): MmuIntervalNotifier {
  const isub = new MmuIntervalNotifier({
    invalidate: (s, r, seq) => {
      log.push(`${name} ${desc(r)} seq=${seq} blockable=${r.blockable} present=${present(V)}`);
      mmuIntervalSetSeq(s, seq);
      return answer;
    },
  });
  expect(mmuIntervalNotifierInsert(isub, mm, startVpn, npages, isub.ops)).toBe(0);
  return isub;
}

describe('6: exit_mmap', () => {
  it('R-NOTIF-47: interval RELEASE over [0, ULONG_MAX) to all interval subscriptions, then classic release in list order, then an UNMAP that reaches interval subscriptions only', () => {
    const log: string[] = [];
    interval('A', log, V, 8);
    interval('B', log, V + 1000, 4);
    interval('Z', log, VPN_END_MAX - 1, 1);
    const c1 = classic('C1', log);
    const c2 = classic('C2', log);
    mapAndFill(8);
    expect(log).toEqual([]);
    task.exit();
    expect(log).toEqual([
      'A release all seq=3 blockable=true present=true',
      'B release all seq=3 blockable=true present=true',
      'Z release all seq=3 blockable=true present=true',
      'C2.release true present=true',
      'C1.release true present=true',
      'A unmap all seq=5 blockable=true present=true',
      'B unmap all seq=5 blockable=true present=true',
      'Z unmap all seq=5 blockable=true present=true',
    ]);
    const rec = MmuNotifierSubscriptions.of(mm)!;
    expect(rec.invalidateSeq).toBe(6);
    expect(rec.activeInvalidateRanges).toBe(0);
    expect(rec.list).toEqual([]);
    // Step 3: the classic subscriptions are off the list but still allocated and holding mm_count.
    expect([c1.onList, c2.onList]).toEqual([false, false]);
    expect([c1.mm, c2.mm]).toEqual([mm, mm]);
    expect(mm.users).toBe(0);
    expect(mm.count).toBe(5);
    expect(mm.torndown).toBe(true);
    expect(present(V)).toBe(false);
    expect(mm.vmas.toArray()).toEqual([]);
  });

  it('R-NOTIF-47: interval callbacks returning false for the RELEASE are only warned about; teardown goes on', () => {
    const log: string[] = [];
    interval('A', log, V, 4, false);
    interval('B', log, V + 4, 4);
    classic('C', log);
    mapAndFill(8);
    task.exit();
    expect(log.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
      'A release',
      'B release',
      'C.release true',
      'A unmap',
      'B unmap',
    ]);
    expect(kernel.warnings).toHaveLength(2);
    expect(mm.torndown).toBe(true);
  });

  it('R-NOTIF-47: teardown runs when the last transient user (mmget holder) drops, not when the last thread exits', () => {
    const log: string[] = [];
    classic('C', log);
    mapAndFill(4);
    const used = kernel.mem.usedPages();
    mm.mmget();
    task.exit();
    expect(mm.users).toBe(1);
    expect(mm.torndown).toBe(false);
    expect(log).toEqual([]);
    expect(kernel.mem.usedPages()).toBe(used);
    mm.mmput();
    expect(log).toEqual(['C.release true present=true']);
    expect(mm.torndown).toBe(true);
    expect(kernel.mem.usedPages()).toBe(used - 4);
  });

  it('R-NOTIF-48: after teardown interval subscriptions stay in the tree, read_begin still works, mmget_not_zero fails and new inserts get -EINVAL', () => {
    const log: string[] = [];
    const a = interval('A', log, V, 8);
    mapAndFill(8);
    const seq = mmuIntervalReadBegin(a);
    expect(seq).toBe(1);
    task.exit();
    const rec = MmuNotifierSubscriptions.of(mm)!;
    expect(rec.itree.has(a)).toBe(true);
    expect(mmuIntervalReadRetry(a, seq)).toBe(true);
    expect(mmuIntervalReadBegin(a)).toBe(5);
    expect(mm.mmgetNotZero()).toBe(false);
    const b = new MmuIntervalNotifier({ invalidate: () => true });
    expect(mmuIntervalNotifierInsert(b, mm, V, 1, b.ops)).toBe(-EINVAL);
    mmuIntervalNotifierRemove(a);
    expect(mm.freed).toBe(true);
  });

  it('R-NOTIF-49: release is called while the pages are still mapped and allocated, so a page-table-sharing device can stop DMA before they are freed', () => {
    mapAndFill(8);
    const used = kernel.mem.usedPages();
    const seen: string[] = [];
    expect(
      mmuNotifierRegister(
        new MmuNotifier({
          release: () => {
            seen.push(`release present=${present(V + 7)} freed=${used - kernel.mem.usedPages()}`);
          },
          archInvalidateSecondaryTlbs: (_s, _m, start, end) => {
            seen.push(`tlb ${start === 0 ? 0 : start - V} ${end === VPN_END_MAX ? 'max' : end - V}`);
          },
        }),
        mm,
      ),
    ).toBe(0);
    task.exit();
    expect(seen[0]).toBe('release present=true freed=0');
    // The list is empty after release: the device gets nothing more, not even TLB flushes.
    expect(seen).toHaveLength(1);
    expect(used - kernel.mem.usedPages()).toBeGreaterThanOrEqual(8);
  });

  it('R-NOTIF-50: exit drops the address space before closing files: a device file release sees a torn-down mm and can still unregister', () => {
    const log: string[] = [];
    const c = classic('C', log);
    const isub = interval('I', log, V, 4);
    const ops = {
      name: 'mirror',
      release: (file: OpenFile) => {
        const m = file.privateData as Mm;
        log.push(`file.release torndown=${m.torndown} users=${m.users} count=${m.count}`);
        mmuIntervalNotifierRemove(isub);
        mmuNotifierUnregister(c, m);
        log.push(`file.release done count=${m.count} freed=${m.freed}`);
      },
    };
    const file = new OpenFile(kernel.newObjectId(), new Inode('device', kernel.newObjectId(), 0, null), ops);
    file.privateData = mm;
    task.installFile(file);
    mapAndFill(4);
    task.exit();
    expect(log.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
      'I release',
      'C.release true',
      'I unmap',
      'file.release torndown=true',
      'file.release done',
    ]);
    expect(log[3]).toBe('file.release torndown=true users=0 count=2');
    expect(log[4]).toBe('file.release done count=0 freed=true');
    // C was already released by teardown: unregister did not call release again.
    expect(log.filter((l) => l.startsWith('C.release'))).toHaveLength(1);
  });

  it('R-NOTIF-51: the record is freed with the mm object when mm_count reaches 0, with an empty classic list and no warning', () => {
    const log: string[] = [];
    const c = classic('C', log);
    const a = interval('A', log, V, 4);
    const rec = MmuNotifierSubscriptions.of(mm)!;
    task.exit();
    expect(rec.list).toEqual([]);
    expect(MmuNotifierSubscriptions.of(mm)).toBe(rec);
    expect(mm.count).toBe(2);
    mmuNotifierUnregister(c, mm);
    expect(MmuNotifierSubscriptions.of(mm)).toBe(rec);
    mmuIntervalNotifierRemove(a);
    expect(mm.count).toBe(0);
    expect(mm.freed).toBe(true);
    expect(mm.notifier).toBeNull();
    expect(kernel.mms.has(mm)).toBe(false);
    expect(kernel.warnings).toEqual([]);
  });
});
