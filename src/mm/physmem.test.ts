import { describe, expect, it } from 'vitest';
import { ENOMEM } from '../sim/errno.js';
import { HPAGE_PMD_NR } from './constants.js';
import { PG_HEAD, PG_TAIL, PG_ZERO, PhysMem, SECTION_FRAMES } from './physmem.js';

describe('physical memory', () => {
  it('hands out frames until RAM is exhausted, then -ENOMEM; freed frames come back', () => {
    const mem = new PhysMem({ ramPages: 1024, contentMode: 'tokens' });
    const free = mem.ram.freePages;
    const pfns: number[] = [];
    for (let i = 0; i < free; i++) {
      const pfn = mem.allocPage();
      expect(pfn).toBeGreaterThan(0);
      pfns.push(pfn);
    }
    expect(mem.allocPage()).toBe(-ENOMEM);
    expect(new Set(pfns).size).toBe(pfns.length);
    mem.put(pfns[10]);
    expect(mem.usedPages()).toBe(free - 1);
    expect(mem.allocPage()).toBe(pfns[10]);
  });

  it('new frames read as zero whatever their previous owner wrote', () => {
    const mem = new PhysMem({ ramPages: 2048, contentMode: 'bytes' });
    const pfn = mem.allocPage();
    mem.content.write(pfn, 100, new Uint8Array([1, 2, 3]), 0, 3);
    expect(mem.content.isZero(pfn)).toBe(false);
    mem.put(pfn);
    const again = mem.allocPage();
    expect(again).toBe(pfn);
    expect(mem.content.isZero(again)).toBe(true);
  });

  it('a large folio is 512 aligned frames with one refcount on the head', () => {
    const mem = new PhysMem({ ramPages: 4096, contentMode: 'tokens' });
    mem.allocPage();
    const head = mem.allocHugeFolio();
    expect(head % HPAGE_PMD_NR).toBe(0);
    expect(mem.testPageFlag(head, PG_HEAD)).toBe(true);
    expect(mem.testPageFlag(head + 7, PG_TAIL)).toBe(true);
    expect(mem.folioHead(head + 300)).toBe(head);
    mem.get(head + 300);
    expect(mem.refcountOf(head)).toBe(2);
    const used = mem.usedPages();
    mem.put(head + 1);
    mem.put(head);
    expect(mem.usedPages()).toBe(used - HPAGE_PMD_NR);
    // The freed block is reused whole for the next large folio.
    expect(mem.allocHugeFolio()).toBe(head);
  });

  it('a large folio cannot be had when the zone lacks 512 free frames', () => {
    const mem = new PhysMem({ ramPages: 1024, contentMode: 'tokens' });
    while (mem.ram.freePages >= HPAGE_PMD_NR) expect(mem.allocHugeFolio()).toBeGreaterThan(0);
    expect(mem.allocHugeFolio()).toBe(-ENOMEM);
  });

  it('freeing a mapped frame or going below zero is an invariant error', () => {
    const mem = new PhysMem({ ramPages: 1024, contentMode: 'tokens' });
    const pfn = mem.allocPage();
    mem.addMapcount(pfn, 1);
    expect(() => mem.put(pfn)).toThrow(/still mapped/);
    const other = mem.allocPage();
    mem.put(other);
    expect(() => mem.put(other)).toThrow(/below zero/);
  });

  it('the zero page is reserved and never refcounted', () => {
    const mem = new PhysMem({ ramPages: 1024, contentMode: 'tokens' });
    expect(mem.testPageFlag(mem.zeroPfn, PG_ZERO)).toBe(true);
    mem.put(mem.zeroPfn);
    expect(mem.usedPages()).toBe(0);
  });

  it('metadata grows by sections as zones fill', () => {
    const mem = new PhysMem({ ramPages: 3 * SECTION_FRAMES, contentMode: 'tokens' });
    expect(mem.pfnLimit).toBe(SECTION_FRAMES);
    for (let i = 0; i < SECTION_FRAMES + 10; i++) mem.allocPage();
    expect(mem.pfnLimit).toBe(2 * SECTION_FRAMES);
  });
});
