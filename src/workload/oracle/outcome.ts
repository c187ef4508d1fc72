// Writes and compares the oracle's outcome lines (../shared/oracle/FORMAT.md section 5): fields in
// the order rc done bytes cpages faults sums snap, run-length encoded lists, and the `KEY=?` and
// `nondet` markers of lines the real kernel did not repeat exactly.

export interface Outcome {
  rc: string;
  done?: number;
  bytes?: number;
  cpages?: number;
  faults?: number;
  sums?: string[];
  snap?: string[];
}

/** Canonical run-length encoding: `a*3,b` (every run maximal, `*1` never written). */
export function rle(items: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < items.length;) {
    let j = i + 1;
    while (j < items.length && items[j] === items[i]) j++;
    out.push(j - i > 1 ? `${items[i]}*${j - i}` : items[i]);
    i = j;
  }
  return out.join(',');
}

export function formatOutcome(index: number, proc: number, name: string, o: Outcome): string {
  const fields = [`rc=${o.rc}`];
  if (o.done !== undefined) fields.push(`done=${o.done}`);
  if (o.bytes !== undefined) fields.push(`bytes=${o.bytes}`);
  if (o.cpages !== undefined) fields.push(`cpages=${o.cpages}`);
  if (o.faults !== undefined) fields.push(`faults=${o.faults}`);
  if (o.sums !== undefined) fields.push(`sums=${rle(o.sums)}`);
  if (o.snap !== undefined) fields.push(`snap=${rle(o.snap)}`);
  return `${index} p${proc} ${name} ${fields.join(' ')}`;
}

/** The outcome lines of a `.out` file (comments dropped). */
export function parseOutFile(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

/** Whether `got` matches the kernel's `want` line, honouring `nondet` and `KEY=?`. */
export function outcomeMatches(want: string, got: string): boolean {
  const w = want.trim().split(' ');
  const g = got.trim().split(' ');
  if (w.length === 4 && w[3] === 'nondet') return w[0] === g[0] && w[1] === g[1] && w[2] === g[2];
  if (w.length !== g.length) return false;
  for (let i = 0; i < w.length; i++) {
    if (w[i] === g[i]) continue;
    const [wk, wv] = w[i].split('=');
    const [gk] = g[i].split('=');
    if (i < 3 || wv !== '?' || wk !== gk) return false;
  }
  return true;
}
