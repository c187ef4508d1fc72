// GPU page-access traces recorded elsewhere (a profiler, an instrumented run, another simulator),
// read into a GpuWorkload, and written back out. The text format, one statement per line:
//
//   # a comment (also after a statement); blank lines are ignored
//   array <name> <bytes> [host]      a managed array, in allocation order; `host`: the host
//                                    initializes it before the first kernel. Declare before use.
//   kernel <name>                    starts a kernel launch
//   block                            starts the kernel's next thread block
//   R <array> <page>                 a read of page <page> of <array> (0 = the array's first page)
//   W <array> <page>                 a write
//   host R|W <array> <first> <last>  a host step: the CPU touches pages [first, last] of <array>;
//                                    it ends the kernel before it
//
// Numbers are decimal or 0x-hex. Accesses before a kernel's first `block` line are its block 0;
// a kernel without `block` lines is cut into blocks of 256 accesses. Mistakes are InputErrors
// that name the file, line and column, what was expected and what was found.

import { ACCESS_OFFSET_MAX, AccessBuffer, accessIsWrite, accessOffset } from '../../devices/gpu/grid.js';
import { InputError } from '../../sim/errors.js';
import { arrayPages, layoutArrays } from './layout.js';
import { arrayBases, kernelStep } from './steps.js';
import type { GpuWorkload, ManagedArray, WorkloadStep } from './types.js';

/** Accesses per block in a kernel that has no `block` lines. */
export const TRACE_BLOCK_ACCESSES = 256;

/** A growable Int32Array (the parser's storage: a trace can hold millions of accesses). */
class IntList {
  data = new Int32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  toArray(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

/** One kernel of a trace: accesses as array index and `page * 2 + write`, and block starts. */
interface TraceKernel {
  readonly name: string;
  readonly arrayOf: Int32Array;
  readonly words: Int32Array;
  /** Block b is accesses [blockStart[b], blockStart[b + 1]). */
  readonly blockStart: Int32Array;
}

type TraceStep =
  | { kind: 'kernel'; kernel: TraceKernel }
  | { kind: 'host'; array: number; first: number; last: number; write: boolean };

interface Token {
  readonly text: string;
  readonly column: number;
}

function tokenize(line: string): Token[] {
  const hash = line.indexOf('#');
  const text = hash < 0 ? line : line.slice(0, hash);
  const tokens: Token[] = [];
  const re = /\S+/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) tokens.push({ text: m[0], column: m.index + 1 });
  return tokens;
}

/** Builds the kernel being read, statement by statement. */
class KernelBuilder {
  private readonly arrayOf = new IntList();
  private readonly words = new IntList();
  private readonly starts = new IntList();
  private explicitBlocks = false;

  constructor(readonly name: string) {}

  block(): void {
    // Accesses before the first `block` line are block 0; without any, that line starts block 0.
    if (!this.explicitBlocks && this.words.length > 0) this.starts.push(0);
    this.starts.push(this.words.length);
    this.explicitBlocks = true;
  }

  access(array: number, page: number, write: boolean): void {
    this.arrayOf.push(array);
    this.words.push(page * 2 + (write ? 1 : 0));
  }

  finish(): TraceKernel {
    const n = this.words.length;
    if (!this.explicitBlocks) {
      for (let s = 0; s < n; s += TRACE_BLOCK_ACCESSES) this.starts.push(s);
    }
    this.starts.push(n);
    return {
      name: this.name,
      arrayOf: this.arrayOf.toArray(),
      words: this.words.toArray(),
      blockStart: this.starts.toArray(),
    };
  }
}

/** Reads a trace line by line; one instance per parse (no closures per line: traces are long). */
class TraceReader {
  readonly arrays: ManagedArray[] = [];
  readonly steps: TraceStep[] = [];
  private readonly pagesOf: number[] = [];
  private readonly indexOf = new Map<string, number>();
  private kernel: KernelBuilder | undefined;
  /** Line of the last host step (0: none yet), for the hint when an access follows one. */
  private hostLine = 0;
  private line = 0;
  private tokens: Token[] = [];

  constructor(private readonly fileName: string) {}

  /** Throws the InputError for token `at`; undefined: a token is missing, reported just after the last. */
  fail(at: Token | undefined, expected: string, got?: string): never {
    const lastToken = this.tokens[this.tokens.length - 1];
    const column = at?.column ?? lastToken.column + lastToken.text.length;
    const found = got ?? (at === undefined ? 'end of line' : JSON.stringify(at.text));
    throw new InputError({ file: this.fileName, line: this.line, column }, expected, found);
  }

  statement(line: number, tokens: Token[]): void {
    this.line = line;
    this.tokens = tokens;
    const head = tokens[0];
    switch (head.text) {
      case 'array':
        return this.array();
      case 'kernel':
        this.expectCount(2, 'kernel <name>');
        this.endKernel();
        this.kernel = new KernelBuilder(tokens[1].text);
        return;
      case 'block':
        this.expectCount(1, 'block');
        if (this.kernel === undefined) this.fail(head, 'a `kernel <name>` line before the first `block`');
        this.kernel.block();
        return;
      case 'R':
      case 'W':
        return this.access(head.text === 'W');
      case 'host':
        return this.host();
      default:
        this.fail(head, 'a statement: array, kernel, block, R, W or host');
    }
  }

  endKernel(): void {
    if (this.kernel !== undefined) this.steps.push({ kind: 'kernel', kernel: this.kernel.finish() });
    this.kernel = undefined;
  }

  private array(): void {
    const t = this.tokens;
    if (t.length < 3) this.fail(undefined, 'array <name> <bytes> [host]');
    if (t.length > 4) this.fail(t[4], 'end of line (a comment starts with #)');
    const name = t[1].text;
    if (this.indexOf.has(name))
      this.fail(t[1], 'a new array name', `${JSON.stringify(name)}, declared before`);
    const bytes = this.number(t[2], 'the array size in bytes');
    if (bytes <= 0) this.fail(t[2], 'a positive size in bytes');
    // An access word carries a page offset in 30 bits (devices/gpu/grid.ts).
    if (arrayPages(bytes) > ACCESS_OFFSET_MAX + 1)
      this.fail(t[2], `a size of at most ${ACCESS_OFFSET_MAX + 1} pages`);
    if (t.length === 4 && t[3].text !== 'host') this.fail(t[3], '`host` or end of line');
    this.indexOf.set(name, this.arrays.length);
    this.arrays.push({ name, bytes, hostInit: t.length === 4 });
    this.pagesOf.push(arrayPages(bytes));
  }

  private access(write: boolean): void {
    const t = this.tokens;
    this.expectCount(3, `${t[0].text} <array> <page>`);
    if (this.kernel === undefined) {
      this.fail(
        t[0],
        this.hostLine > 0
          ? `a \`kernel <name>\` line first (the kernel before ended at the host step on line ${this.hostLine})`
          : 'a `kernel <name>` line before the first access',
      );
    }
    const a = this.arrayRef(t[1]);
    this.kernel.access(a, this.page(t[2], a), write);
  }

  private host(): void {
    const t = this.tokens;
    this.expectCount(5, 'host R|W <array> <firstPage> <lastPage>');
    if (t[1].text !== 'R' && t[1].text !== 'W') this.fail(t[1], 'R or W');
    const a = this.arrayRef(t[2]);
    const first = this.page(t[3], a);
    const last = this.page(t[4], a);
    if (last < first) this.fail(t[4], `a last page at or after the first (${first})`);
    this.endKernel();
    this.steps.push({ kind: 'host', array: a, first, last, write: t[1].text === 'W' });
    this.hostLine = this.line;
  }

  private expectCount(count: number, usage: string): void {
    if (this.tokens.length < count) this.fail(undefined, usage);
    if (this.tokens.length > count) this.fail(this.tokens[count], 'end of line (a comment starts with #)');
  }

  private number(t: Token, what: string): number {
    if (!/^(?:0x[0-9a-fA-F]+|\d+)$/.test(t.text)) this.fail(t, `${what} (a decimal or 0x-hex integer)`);
    const v = Number(t.text);
    if (!Number.isSafeInteger(v)) this.fail(t, `${what} below 2^53`);
    return v;
  }

  private arrayRef(t: Token): number {
    const a = this.indexOf.get(t.text);
    if (a !== undefined) return a;
    const known = this.arrays.length === 0 ? 'none declared yet' : this.arrays.map((x) => x.name).join(', ');
    return this.fail(t, `a declared array (${known})`);
  }

  private page(t: Token, array: number): number {
    const v = this.number(t, 'a page offset');
    const pages = this.pagesOf[array];
    if (v >= pages)
      this.fail(t, `a page offset below ${pages} (array ${this.arrays[array].name} has ${pages} pages)`);
    return v;
  }
}

/**
 * Reads a GPU page-access trace (the format is in this file's header). Pure: the caller reads the
 * file. `fileName` names the trace in errors and becomes the workload's name.
 *
 * @example parseGpuTrace('array a 8192 host\nkernel k\nR a 1\nW a 0\n', 't.trace').arrays[0].name // 'a'
 */
export function parseGpuTrace(text: string, fileName: string): GpuWorkload {
  const reader = new TraceReader(fileName);
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const tokens = tokenize(lines[i]);
    if (tokens.length > 0) reader.statement(i + 1, tokens);
  }
  reader.endKernel();
  // The arrays must also fit one region together (each starts on a 2 MiB boundary).
  try {
    layoutArrays(reader.arrays);
  } catch (e) {
    throw new InputError({ file: fileName }, 'arrays that fit in one region', (e as Error).message);
  }
  return traceWorkload(fileName, reader.arrays, reader.steps);
}

function traceWorkload(name: string, arrays: ManagedArray[], steps: readonly TraceStep[]): GpuWorkload {
  return {
    name,
    arrays,
    *steps(layout): Iterable<WorkloadStep> {
      const bases = arrayBases(layout, arrays);
      for (const s of steps) {
        if (s.kind === 'host') {
          yield {
            kind: 'host',
            name: `host ${arrays[s.array].name}`,
            firstPage: bases[s.array] + s.first,
            lastPage: bases[s.array] + s.last,
            write: s.write,
          };
          continue;
        }
        const { arrayOf, words, blockStart } = s.kernel;
        yield kernelStep(s.kernel.name, blockStart.length - 1, (b, out) => {
          for (let x = blockStart[b]; x < blockStart[b + 1]; x++) {
            const w = words[x];
            out.push(bases[arrayOf[x]] + (w >>> 1), (w & 1) === 1);
          }
        });
      }
    },
  };
}

/**
 * Writes a workload as a trace that `parseGpuTrace` reads back to the same steps: every kernel
 * block by block, every access as its array and page. Every page a step touches must lie in
 * one of the workload's arrays (RangeError otherwise).
 *
 * @example formatGpuTrace(parseGpuTrace('array a 4096\nkernel k\nR a 0\n', 't'))
 * // 'array a 4096\nkernel k\nblock\nR a 0\n'
 */
export function formatGpuTrace(workload: GpuWorkload): string {
  const layout = layoutArrays(workload.arrays);
  const starts = workload.arrays.map((a) => layout.offset(a.name));
  /** The array holding region page `page`; a page outside every array is a broken workload. */
  const arrayAt = (page: number): number => {
    for (let a = workload.arrays.length - 1; a >= 0; a--) {
      if (page >= starts[a] && page < starts[a] + layout.pages(workload.arrays[a].name)) return a;
    }
    throw new RangeError(`workload ${workload.name} touches page ${page}, which is in no array`);
  };
  const lines: string[] = workload.arrays.map(
    (a) => `array ${a.name} ${a.bytes}${a.hostInit ? ' host' : ''}`,
  );
  const out = new AccessBuffer();
  for (const step of workload.steps(layout)) {
    if (step.kind === 'host') {
      for (let p = step.firstPage; p <= step.lastPage;) {
        const a = arrayAt(p);
        const last = Math.min(step.lastPage, starts[a] + layout.pages(workload.arrays[a].name) - 1);
        lines.push(
          `host ${step.write ? 'W' : 'R'} ${workload.arrays[a].name} ${p - starts[a]} ${last - starts[a]}`,
        );
        p = last + 1;
      }
      continue;
    }
    lines.push(`kernel ${step.name}`);
    for (let b = 0; b < step.grid.blocks; b++) {
      out.clear();
      if (!step.grid.fillBlock(b, out)) break;
      lines.push('block');
      for (let i = 0; i < out.length; i++) {
        const page = accessOffset(out.words[i]);
        const a = arrayAt(page);
        lines.push(
          `${accessIsWrite(out.words[i]) ? 'W' : 'R'} ${workload.arrays[a].name} ${page - starts[a]}`,
        );
      }
    }
  }
  return lines.join('\n') + '\n';
}
