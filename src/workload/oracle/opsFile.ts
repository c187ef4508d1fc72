// Reads the oracle's operation-sequence format (../shared/oracle/FORMAT.md sections 2 and 2.1):
// one operation per line, `PROC OPNAME ARG...`, with handle and number syntax checked, and the
// static validity rules (live processes, handles that exist in the process, no reuse) enforced.
// Every problem is an InputError naming the file, line, column and what was expected.

import { InputError } from '../../sim/errors.js';

export type BufferType = 'anon' | 'shared' | 'file' | 'file_private' | 'hugetlb' | 'devmap';
export type Prot = 'none' | 'r' | 'rw';
export type Advice =
  'dontneed' | 'hugepage' | 'nohugepage' | 'populate_read' | 'populate_write' | 'willneed' | 'cold';

export type OracleOp =
  | { kind: 'mmap'; buf: number; type: BufferType; npages: number; prot: Prot; dev: number }
  | { kind: 'munmap'; buf: number; start: number; count: number }
  | { kind: 'mprotect'; buf: number; start: number; count: number; prot: Prot }
  | { kind: 'madvise'; buf: number; start: number; count: number; advice: Advice }
  | { kind: 'read' | 'pread'; buf: number; start: number; count: number }
  | { kind: 'write' | 'pwrite'; buf: number; start: number; count: number; seed: number }
  | { kind: 'fork'; child: number }
  | { kind: 'exit' }
  | { kind: 'open'; dev: number; unit: number }
  | { kind: 'close' | 'release'; dev: number }
  | {
      kind: 'dread' | 'migrate_dev' | 'migrate_sys' | 'snapshot' | 'exclusive' | 'check_exclusive';
      dev: number;
      buf: number;
      start: number;
      count: number;
    }
  | { kind: 'dwrite'; dev: number; buf: number; start: number; count: number; seed: number };

/** One operation with where it came from. */
export interface OracleLine {
  readonly index: number;
  readonly line: number;
  readonly proc: number;
  readonly name: string;
  readonly op: OracleOp;
}

const TYPES: readonly BufferType[] = ['anon', 'shared', 'file', 'file_private', 'hugetlb', 'devmap'];
const PROTS: readonly Prot[] = ['none', 'r', 'rw'];
const ADVICES: readonly Advice[] = [
  'dontneed',
  'hugepage',
  'nohugepage',
  'populate_read',
  'populate_write',
  'willneed',
  'cold',
];

/** Argument shapes per operation: h:X a handle with prefix X, n a number, s a seed, and word lists. */
const SHAPES: Record<string, readonly string[]> = {
  mmap: ['h:b', 'type', 'n', 'prot'],
  munmap: ['h:b', 'n', 'n'],
  mprotect: ['h:b', 'n', 'n', 'prot'],
  madvise: ['h:b', 'n', 'n', 'advice'],
  read: ['h:b', 'n', 'n'],
  write: ['h:b', 'n', 'n', 's'],
  pread: ['h:b', 'n', 'n'],
  pwrite: ['h:b', 'n', 'n', 's'],
  fork: ['h:p'],
  exit: [],
  open: ['h:d', 'n'],
  close: ['h:d'],
  release: ['h:d'],
  dread: ['h:d', 'h:b', 'n', 'n'],
  dwrite: ['h:d', 'h:b', 'n', 'n', 's'],
  migrate_dev: ['h:d', 'h:b', 'n', 'n'],
  migrate_sys: ['h:d', 'h:b', 'n', 'n'],
  snapshot: ['h:d', 'h:b', 'n', 'n'],
  exclusive: ['h:d', 'h:b', 'n', 'n'],
  check_exclusive: ['h:d', 'h:b', 'n', 'n'],
};

const HANDLE_LIMIT: Record<string, number> = { p: 32, b: 256, d: 64 };

interface Token {
  readonly text: string;
  readonly column: number;
}

function tokenize(line: string): Token[] {
  const out: Token[] = [];
  const re = /\S+/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) out.push({ text: m[0], column: m.index + 1 });
  return out;
}

/** Parses and statically validates a sequence. `file` names it in error messages. */
export function parseOpsFile(text: string, file: string): OracleLine[] {
  const ops: OracleLine[] = [];
  const lines = text.split('\n');
  for (let li = 0; li < lines.length; li++) {
    const raw = lines[li].replace(/\r$/, '');
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    ops.push(parseLine(tokenize(raw), { file, line: li + 1 }, ops.length));
  }
  validate(ops, file);
  return ops;
}

function parseLine(tokens: Token[], where: { file: string; line: number }, index: number): OracleLine {
  const fail = (t: Token | undefined, expected: string): never => {
    throw new InputError(
      { ...where, column: t?.column ?? 1 },
      expected,
      t === undefined ? 'the end of the line' : `"${t.text}"`,
    );
  };
  const handle = (t: Token | undefined, prefix: string): number => {
    const m = t === undefined ? null : /^([pbd])(0|[1-9][0-9]*)$/.exec(t.text);
    if (m === null || m[1] !== prefix) return fail(t, `a ${prefix}N handle`);
    const n = Number(m[2]);
    if (n >= HANDLE_LIMIT[prefix])
      return fail(t, `a ${prefix} handle below ${prefix}${HANDLE_LIMIT[prefix]}`);
    return n;
  };
  const number = (t: Token | undefined, max: number, what: string): number => {
    if (t === undefined || !/^(0|[1-9][0-9]*)$/.test(t.text) || Number(t.text) > max) return fail(t, what);
    return Number(t.text);
  };
  const word = <T extends string>(t: Token | undefined, choices: readonly T[], what: string): T => {
    if (t === undefined || !(choices as readonly string[]).includes(t.text))
      return fail(t, `${what} (${choices.join(', ')})`);
    return t.text as T;
  };
  const proc = handle(tokens[0], 'p');
  const nameTok = tokens[1];
  if (nameTok === undefined || !(nameTok.text in SHAPES))
    return fail(nameTok, `an operation (${Object.keys(SHAPES).join(', ')})`);
  const name = nameTok.text;
  let shape = SHAPES[name];
  if (name === 'mmap' && tokens[3]?.text === 'devmap') shape = [...shape, 'h:d'];
  const args = tokens.slice(2);
  if (args.length !== shape.length) {
    const t = args.length > shape.length ? args[shape.length] : undefined;
    fail(t, `${shape.length} argument${shape.length === 1 ? '' : 's'} for ${name}`);
  }
  const v: (number | string)[] = shape.map((s, i) => {
    const t = args[i];
    if (s.startsWith('h:')) return handle(t, s.slice(2));
    if (s === 'n') return number(t, 2 ** 40, 'a non-negative decimal number');
    if (s === 's') return number(t, 4294967295, 'a seed from 0 to 4294967295');
    if (s === 'type') return word(t, TYPES, 'a buffer type');
    if (s === 'prot') return word(t, PROTS, 'a protection');
    return word(t, ADVICES, 'an advice');
  });
  const n = (i: number) => v[i] as number;
  let op: OracleOp;
  switch (name) {
    case 'mmap':
      op = {
        kind: 'mmap',
        buf: n(0),
        type: v[1] as BufferType,
        npages: n(2),
        prot: v[3] as Prot,
        dev: v[1] === 'devmap' ? n(4) : -1,
      };
      break;
    case 'munmap':
    case 'read':
    case 'pread':
      op = { kind: name, buf: n(0), start: n(1), count: n(2) };
      break;
    case 'mprotect':
      op = { kind: 'mprotect', buf: n(0), start: n(1), count: n(2), prot: v[3] as Prot };
      break;
    case 'madvise':
      op = { kind: 'madvise', buf: n(0), start: n(1), count: n(2), advice: v[3] as Advice };
      break;
    case 'write':
    case 'pwrite':
      op = { kind: name, buf: n(0), start: n(1), count: n(2), seed: n(3) };
      break;
    case 'fork':
      op = { kind: 'fork', child: n(0) };
      break;
    case 'exit':
      op = { kind: 'exit' };
      break;
    case 'open':
      op = { kind: 'open', dev: n(0), unit: n(1) };
      break;
    case 'close':
    case 'release':
      op = { kind: name, dev: n(0) };
      break;
    case 'dwrite':
      op = { kind: 'dwrite', dev: n(0), buf: n(1), start: n(2), count: n(3), seed: n(4) };
      break;
    default:
      op = { kind: name as 'dread', dev: n(0), buf: n(1), start: n(2), count: n(3) };
  }
  return { index, line: where.line, proc, name, op };
}

/** FORMAT.md 2.1: processes alive, handles present in the process, no reuse, one own handle per unit. */
function validate(ops: OracleLine[], file: string): void {
  const alive = new Set<number>([0]);
  const everForked = new Set<number>([0]);
  const bufs = new Map<number, Set<number>>([[0, new Set()]]);
  const devs = new Map<number, Map<number, { unit: number; own: boolean }>>([[0, new Map()]]);
  const createdBufs = new Set<number>();
  const createdDevs = new Set<number>();
  for (const o of ops) {
    const where = { file, line: o.line };
    const bad = (expected: string, got: string): never => {
      throw new InputError(where, expected, got);
    };
    if (!alive.has(o.proc)) bad('a live process', `p${o.proc}, which does not exist at this point`);
    const myBufs = bufs.get(o.proc)!;
    const myDevs = devs.get(o.proc)!;
    const op = o.op;
    const needBuf = (b: number) => myBufs.has(b) || bad(`a buffer of p${o.proc}`, `b${b}`);
    const needDev = (d: number) => myDevs.has(d) || bad(`a device handle of p${o.proc}`, `d${d}`);
    switch (op.kind) {
      case 'mmap':
        if (createdBufs.has(op.buf)) bad('a buffer handle not used before', `b${op.buf}`);
        if (op.type === 'devmap') needDev(op.dev);
        createdBufs.add(op.buf);
        myBufs.add(op.buf);
        break;
      case 'fork':
        if (everForked.has(op.child)) bad('a process handle not used before', `p${op.child}`);
        everForked.add(op.child);
        alive.add(op.child);
        bufs.set(op.child, new Set(myBufs));
        devs.set(op.child, new Map([...myDevs].map(([d, h]) => [d, { unit: h.unit, own: false }])));
        break;
      case 'exit':
        alive.delete(o.proc);
        break;
      case 'open':
        if (createdDevs.has(op.dev)) bad('a device handle not used before', `d${op.dev}`);
        for (const h of myDevs.values()) {
          if (h.own && h.unit === op.unit)
            bad(`no second own handle for unit ${op.unit} in p${o.proc}`, `d${op.dev}`);
        }
        createdDevs.add(op.dev);
        myDevs.set(op.dev, { unit: op.unit, own: true });
        break;
      case 'close':
        needDev(op.dev);
        myDevs.delete(op.dev);
        break;
      case 'release':
        needDev(op.dev);
        break;
      case 'munmap':
      case 'mprotect':
      case 'madvise':
      case 'read':
      case 'pread':
      case 'write':
      case 'pwrite':
        needBuf(op.buf);
        break;
      default:
        needDev(op.dev);
        needBuf(op.buf);
    }
  }
}
