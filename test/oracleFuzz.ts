// Generates random operation sequences in the oracle format, in the style of the corpus's
// rand_sNNNNN files: every kind of buffer and operation, forks, exits, inherited device handles.
// They are valid by FORMAT.md 2.1; used to check the model never crashes, leaks or miscounts.

import { Rng } from '../src/sim/rng.js';

export function randomOpsFile(seed: number, nops: number): string {
  const rng = new Rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[rng.below(xs.length)];
  const lines: string[] = [];
  interface Proc {
    id: number;
    bufs: number[];
    devs: { d: number; unit: number; own: boolean }[];
  }
  const procs: Proc[] = [{ id: 0, bufs: [], devs: [] }];
  const bufPages = new Map<number, number>();
  const bufType = new Map<number, string>();
  let nextBuf = 0;
  let nextDev = 0;
  let nextProc = 1;
  for (let k = 0; k < nops && procs.length > 0; k++) {
    const p = pick(procs);
    const who = `p${p.id}`;
    const range = (b: number) => {
      const n = bufPages.get(b)!;
      const start = rng.below(n + 2);
      const count = rng.below(5) === 0 ? rng.below(3) : 1 + rng.below(Math.max(1, n - start + 2));
      return `${start} ${count}`;
    };
    const r = rng.below(100);
    if (r < 8 || p.bufs.length === 0) {
      const type = pick(['anon', 'anon', 'anon', 'shared', 'file', 'file_private', 'hugetlb', 'devmap']);
      if (type === 'devmap' && p.devs.length === 0) continue;
      const n = type === 'hugetlb' ? 512 : pick([1, 4, 8, 16, 64, 512, 1024]);
      const b = nextBuf++;
      bufPages.set(b, n);
      bufType.set(b, type);
      const prot = pick(['rw', 'rw', 'rw', 'r', 'none']);
      lines.push(`${who} mmap b${b} ${type} ${n} ${prot}${type === 'devmap' ? ` d${pick(p.devs).d}` : ''}`);
      p.bufs.push(b);
      continue;
    }
    if (r < 12 && p.devs.filter((d) => d.own).length < 2) {
      const used = new Set(p.devs.filter((d) => d.own).map((d) => d.unit));
      const unit = [0, 1, 2].find((u) => !used.has(u))!;
      const d = nextDev++;
      lines.push(`${who} open d${d} ${unit}`);
      p.devs.push({ d, unit, own: true });
      continue;
    }
    const b = pick(p.bufs);
    if (r < 14 && nextProc < 32) {
      const c = nextProc++;
      lines.push(`${who} fork p${c}`);
      procs.push({ id: c, bufs: [...p.bufs], devs: p.devs.map((d) => ({ ...d, own: false })) });
      continue;
    }
    if (r < 15 && procs.length > 1) {
      lines.push(`${who} exit`);
      procs.splice(procs.indexOf(p), 1);
      continue;
    }
    if (r < 17 && p.devs.length > 0) {
      const i = rng.below(p.devs.length);
      lines.push(`${who} close d${p.devs[i].d}`);
      p.devs.splice(i, 1);
      continue;
    }
    if (r < 22) lines.push(`${who} munmap b${b} ${range(b)}`);
    else if (r < 30) lines.push(`${who} mprotect b${b} ${range(b)} ${pick(['rw', 'r', 'none'])}`);
    else if (r < 36)
      lines.push(
        `${who} madvise b${b} ${range(b)} ${pick(['dontneed', 'hugepage', 'nohugepage', 'populate_read', 'populate_write', 'willneed', 'cold'])}`,
      );
    else if (r < 44) lines.push(`${who} read b${b} ${range(b)}`);
    else if (r < 54) lines.push(`${who} write b${b} ${range(b)} ${1 + rng.below(1000000)}`);
    else if (r < 57) lines.push(`${who} pread b${b} ${range(b)}`);
    else if (r < 60) lines.push(`${who} pwrite b${b} ${range(b)} ${1 + rng.below(1000000)}`);
    else if (p.devs.length > 0) {
      const d = pick(p.devs).d;
      const op = pick([
        'dread',
        'dwrite',
        'migrate_dev',
        'migrate_dev',
        'migrate_sys',
        'snapshot',
        'exclusive',
        'check_exclusive',
        'release',
      ]);
      if (op === 'release') lines.push(`${who} release d${d}`);
      else if (op === 'dwrite') lines.push(`${who} dwrite d${d} b${b} ${range(b)} ${1 + rng.below(1000000)}`);
      else lines.push(`${who} ${op} d${d} b${b} ${range(b)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
