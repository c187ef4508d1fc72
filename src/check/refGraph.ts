// Checks reference lifetimes at shutdown, from outside the model (sva.md R-SVA-106): a graph of every
// object still alive, with an edge for each reference one object keeps on another, read from the
// model's own structures (task fd tables and mm pointers, the VMA tree, vm_file, file private data,
// SVA bonds, domains, mmu notifiers, the PASID allocator); counters are compared with the
// references found, never trusted as the graph. Every object no live thread reaches is reported
// with one path of references that keeps it, and every strongly connected group of them as a
// reference cycle, the way the 2016 exit discussion found file -> bond -> mm -> VMA -> file.
//
// An mm appears twice, as in the kernel's two counts: its address space (VMAs, page tables; kept
// by mm_users, torn down by exit_mmap when they go) and the mm object (kept by mm_count, which the
// users hold one of together). Only counted or owning references are edges: back pointers (a VMA's
// mm, a PASID's owner, a PASID-table entry's mm) and lookup structures (an IOMMU group's PASID
// slots, the per-mm list of SVA domains) keep nothing alive and are not. Anonymous VMAs hold no
// reference into the graph and are counted on their address space instead of being nodes.
//
// An object whose own count is higher than the references found to it is held by something the
// model does not record (a driver that forgot a put): that count is where its path starts.

import { AccelContext } from '../devices/accel/driver.js';
import { Dmirror } from '../devices/dmirror/dmirror.js';
import type { IommuCore } from '../iommu/core.js';
import { type AttachHandle, SvaDomain } from '../iommu/domain.js';
import { PAGE_SIZE } from '../mm/constants.js';
import type { OpenFile } from '../mm/file.js';
import type { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import type { Task } from '../mm/task.js';
import type { Vma } from '../mm/vma.js';
import type { MmuNotifier } from '../notifier/classic.js';
import type { MmuIntervalNotifier } from '../notifier/interval.js';
import { MmuNotifierSubscriptions } from '../notifier/subscriptions.js';

export type RefNodeKind =
  | 'task'
  | 'file'
  | 'context'
  | 'mirror'
  | 'bond'
  | 'addressSpace'
  | 'vma'
  | 'mm'
  | 'domain'
  | 'notifier'
  | 'pasid';

/** Report order of kinds; a cycle is printed from its first member in this order. */
const KIND_RANK: Readonly<Record<RefNodeKind, number>> = {
  task: 0,
  file: 1,
  context: 2,
  mirror: 3,
  bond: 4,
  addressSpace: 5,
  vma: 6,
  mm: 7,
  domain: 8,
  notifier: 9,
  pasid: 10,
};

/** One live object. */
export interface RefNode {
  /** Position in `RefGraph.nodes` (kinds in report order, then the object's ids). */
  readonly index: number;
  readonly kind: RefNodeKind;
  /** The object in the kernel's words: `mm 1`, `SVA bond 3 on dsa0, PASID 1`, `file 5 (accel-dsa0)`. */
  readonly label: string;
  /**
   * The object's own reference count: its kernel name, its value and what one reference is called
   * (`bind` for a bond's users); null when the object has one owner by construction.
   */
  readonly count: { readonly name: string; readonly value: number; readonly ref: string } | null;
  /** What else to say about the object in a report (`torn down`, `2 anonymous VMAs`), or ''. */
  readonly note: string;
  /** A live thread: it holds, nothing needs to hold it. */
  readonly root: boolean;
  /** References on the object that no object of the graph accounts for. */
  readonly unrecorded: number;
}

/** `from` keeps a reference of kind `kind` (`mm_users`, `vm_file`, `fd 3`...) on `to`. */
export interface RefEdge {
  readonly from: number;
  readonly to: number;
  readonly kind: string;
  /** The reference is one of those `to`'s own count counts. */
  readonly counted: boolean;
}

export interface RefGraph {
  readonly nodes: readonly RefNode[];
  readonly edges: readonly RefEdge[];
  /** Edges leaving each node, by target index. */
  readonly out: readonly (readonly RefEdge[])[];
  /** Edges into each node (its holders), by source index. */
  readonly in: readonly (readonly RefEdge[])[];
}

interface Draft {
  readonly kind: RefNodeKind;
  /** Creation order: unique per object. */
  readonly uid: number;
  readonly label: string;
  readonly order: readonly number[];
  readonly count: RefNode['count'];
  readonly note: string;
}

interface DraftEdge {
  readonly from: Draft;
  readonly to: Draft;
  readonly kind: string;
  readonly counted: boolean;
}

function compareOrder(a: Draft, b: Draft): number {
  const r = KIND_RANK[a.kind] - KIND_RANK[b.kind];
  if (r !== 0) return r;
  for (let i = 0; i < Math.min(a.order.length, b.order.length); i++) {
    if (a.order[i] !== b.order[i]) return a.order[i] - b.order[i];
  }
  return a.order.length - b.order.length;
}

function hex(vpn: number): string {
  return `0x${(vpn * PAGE_SIZE).toString(16)}`;
}

/** Collects the live objects and their references; one draft per object. */
class Builder {
  private readonly drafts = new Map<RefNodeKind, Map<unknown, Draft>>();
  private readonly edges: DraftEdge[] = [];
  private readonly edgeKeys = new Set<string>();
  private seq = 0;
  private readonly files: OpenFile[] = [];

  constructor(
    private readonly kernel: Kernel,
    private readonly core: IommuCore | null,
  ) {}

  private node(kind: RefNodeKind, key: unknown, make: (seq: number) => Omit<Draft, 'kind' | 'uid'>): Draft {
    let byKey = this.drafts.get(kind);
    if (byKey === undefined) {
      byKey = new Map();
      this.drafts.set(kind, byKey);
    }
    let d = byKey.get(key);
    if (d === undefined) {
      const uid = this.seq++;
      d = { kind, uid, ...make(uid) };
      byKey.set(key, d);
    }
    return d;
  }

  private edge(from: Draft, to: Draft, kind: string, counted: boolean): void {
    // The same reference is found from several places (a bond from its group and its context).
    const id = `${from.uid}>${to.uid}:${kind}`;
    if (this.edgeKeys.has(id)) return;
    this.edgeKeys.add(id);
    this.edges.push({ from, to, kind, counted });
  }

  // ---- nodes ----------------------------------------------------------------------------------

  private task(t: Task): Draft {
    return this.node('task', t, () => ({
      label: `task pid ${t.pid}`,
      order: [t.pid],
      count: null,
      note: '',
    }));
  }

  private addressSpace(mm: Mm): Draft {
    return this.node('addressSpace', mm, () => {
      const anon = mm.vmas.toArray().filter((v) => v.file === null).length;
      return {
        label: `address space of mm ${mm.id}`,
        order: [mm.id],
        count: { name: 'mm_users', value: mm.users, ref: 'mm_users' },
        note: anon > 0 ? `${anon} anonymous VMA${anon === 1 ? '' : 's'}` : '',
      };
    });
  }

  private mmObject(mm: Mm): Draft {
    return this.node('mm', mm, () => ({
      label: `mm ${mm.id}`,
      order: [mm.id],
      count: { name: 'mm_count', value: mm.count, ref: 'mm_count' },
      note: mm.torndown ? 'address space torn down' : '',
    }));
  }

  private vma(v: Vma): Draft {
    return this.node('vma', v, () => ({
      label: `VMA ${hex(v.start)}-${hex(v.end)} of mm ${v.mm.id}`,
      order: [v.mm.id, v.start],
      count: null,
      note: '',
    }));
  }

  private file(f: OpenFile): Draft {
    return this.node('file', f, () => {
      this.files.push(f);
      return {
        label: `file ${f.id} (${f.ops.name})`,
        order: [f.id],
        count: { name: 'f_count', value: f.refcount, ref: 'file' },
        note: '',
      };
    });
  }

  private context(ctx: AccelContext): Draft {
    return this.node('context', ctx, (seq) => ({
      label: `user context ${ctx.id} of ${ctx.bond.dev.name}`,
      order: [ctx.id, seq],
      count: null,
      note: '',
    }));
  }

  private mirror(m: Dmirror, file: OpenFile): Draft {
    return this.node('mirror', m, () => ({
      label: `dmirror ${m.id} (${file.ops.name})`,
      order: [file.id],
      count: null,
      note: '',
    }));
  }

  private bond(h: AttachHandle): Draft {
    return this.node('bond', h, () => ({
      label: `SVA bond ${h.id} on ${h.dev.name}, PASID ${h.pasid}`,
      order: [h.id],
      count: { name: 'users', value: h.users, ref: 'bind' },
      note: '',
    }));
  }

  private domain(d: SvaDomain): Draft {
    return this.node('domain', d, () => ({
      label: `SVA domain ${d.id} (${d.iommu.name}) of mm ${d.mm.id}`,
      order: [d.id],
      count: { name: 'users', value: d.users, ref: 'attachment' },
      note: '',
    }));
  }

  private classicNotifier(sub: MmuNotifier, owner: SvaDomain | null): Draft {
    return this.node('notifier', sub, (seq) => ({
      label:
        owner === null
          ? `mmu notifier on mm ${sub.mm!.id}`
          : `mmu notifier of SVA domain ${owner.id} on mm ${sub.mm!.id}`,
      order: [sub.mm!.id, seq],
      count: { name: 'users', value: sub.users, ref: 'notifier user' },
      note: '',
    }));
  }

  private intervalNotifier(isub: MmuIntervalNotifier): Draft {
    return this.node('notifier', isub, (seq) => ({
      label: `interval notifier ${hex(isub.startVpn)}-${hex(isub.lastVpn + 1)} on mm ${isub.mm!.id}`,
      order: [isub.mm!.id, seq],
      count: null,
      note: '',
    }));
  }

  private pasid(pasid: number, mm: Mm): Draft {
    return this.node('pasid', pasid, () => ({
      label: `PASID ${pasid} of mm ${mm.id}`,
      order: [pasid],
      count: null,
      note: '',
    }));
  }

  // ---- references -----------------------------------------------------------------------------

  build(): RefGraph {
    const kernel = this.kernel;
    for (const t of [...kernel.tasks.values()].sort((a, b) => a.pid - b.pid)) {
      const task = this.task(t);
      if (t.mm !== null) this.edge(task, this.addressSpace(t.mm), 'mm_users', true);
      for (const [fd, f] of [...t.fds].sort((a, b) => a[0] - b[0]))
        this.edge(task, this.file(f), `fd ${fd}`, true);
    }
    for (const mm of [...kernel.mms].sort((a, b) => a.id - b.id)) this.mm(mm);
    if (this.core !== null) this.iommu(this.core);
    // Files found so far may hold more (their private data); those may reach more files.
    for (let i = 0; i < this.files.length; i++) this.privateData(this.files[i]);
    return this.finish();
  }

  private mm(mm: Mm): void {
    const obj = this.mmObject(mm);
    if (mm.users > 0) {
      const as = this.addressSpace(mm);
      // The users together hold one mm_count (mmput's final mmdrop).
      this.edge(as, obj, 'mm_count', true);
      for (const v of mm.vmas.toArray()) {
        if (v.file === null) continue;
        const vma = this.vma(v);
        this.edge(as, vma, 'VMA', false);
        this.edge(vma, this.file(v.file), 'vm_file', true);
      }
    }
    const data = this.core?.mmData.get(mm);
    if (data !== undefined) {
      // iommu_mm goes with the mm object (mm_pasid_drop): the object keeps the PASID.
      this.edge(obj, this.pasid(data.pasid, mm), 'iommu_mm', false);
      // Before the notifier list, so SVA notifiers are named after their domains.
      for (const d of data.domains) if (!d.freed) this.domainRefs(d);
    }
    const rec = MmuNotifierSubscriptions.of(mm);
    if (rec !== null) {
      for (const sub of rec.list) if (sub.mm === mm) this.notifierRef(sub, null);
      for (const isub of [...rec.itree.values(), ...rec.deferredList]) {
        if (isub.mm === mm) this.edge(this.intervalNotifier(isub), obj, 'mm_count', true);
      }
    }
  }

  private notifierRef(sub: MmuNotifier, owner: SvaDomain | null): Draft {
    const n = this.classicNotifier(sub, owner);
    this.edge(n, this.mmObject(sub.mm!), 'mm_count', true);
    return n;
  }

  private domainRefs(d: SvaDomain): Draft {
    const dom = this.domain(d);
    this.edge(dom, this.mmObject(d.mm), 'mm_count', true);
    if (d.notifier.mm !== null) this.edge(dom, this.notifierRef(d.notifier, d), 'notifier', true);
    return dom;
  }

  private iommu(core: IommuCore): void {
    for (const group of core.groups) {
      for (const [, h] of [...group.pasidSlots].sort((a, b) => a[0] - b[0])) {
        if (h.detached || !(h.domain instanceof SvaDomain)) continue;
        this.bondRefs(h);
      }
    }
    for (const [pasid, owner] of core.pasids.ownedValues()) {
      if (owner.kind === 'mm' || owner.kind === 'extra') this.pasid(pasid, owner.mm);
    }
  }

  private bondRefs(h: AttachHandle): Draft {
    const bond = this.bond(h);
    const d = h.domain as SvaDomain;
    if (!d.freed) this.edge(bond, this.domainRefs(d), 'attachment', true);
    // [OPT:bondHoldsMm] mm_users: the bond keeps the address space itself (the pre-2016 design).
    if (h.dev.core.options.bondHoldsMm === 'mm_users' && d.mm.users > 0)
      this.edge(bond, this.addressSpace(d.mm), 'mm_users', true);
    if (h.extra) this.edge(bond, this.pasid(h.pasid, d.mm), 'extra PASID', false);
    return bond;
  }

  /** What a file's private_data keeps: a user context (its bond, maybe its mm) or a mirror. */
  private privateData(f: OpenFile): void {
    const data = f.privateData;
    if (data instanceof AccelContext) {
      if (data.released) return;
      const ctx = this.context(data);
      this.edge(this.file(f), ctx, 'private_data', false);
      if (!data.bond.detached) this.edge(ctx, this.bondRefs(data.bond), 'bind', true);
      if (data.holdsMmUsers && data.mm.users > 0)
        this.edge(ctx, this.addressSpace(data.mm), 'mm_users', true);
    } else if (data instanceof Dmirror) {
      const m = this.mirror(data, f);
      this.edge(this.file(f), m, 'private_data', false);
      const isub = data.notifier;
      if (isub.mm !== null) {
        const n = this.intervalNotifier(isub);
        this.edge(m, n, 'notifier', false);
        this.edge(n, this.mmObject(isub.mm), 'mm_count', true);
      }
    }
  }

  private finish(): RefGraph {
    const drafts: Draft[] = [];
    for (const byKey of this.drafts.values()) drafts.push(...byKey.values());
    drafts.sort(compareOrder);
    const index = new Map<Draft, number>(drafts.map((d, i) => [d, i]));
    const edges: RefEdge[] = this.edges
      .map((e) => ({ from: index.get(e.from)!, to: index.get(e.to)!, kind: e.kind, counted: e.counted }))
      .sort((a, b) => a.from - b.from || a.to - b.to || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
    const out: RefEdge[][] = drafts.map(() => []);
    const into: RefEdge[][] = drafts.map(() => []);
    for (const e of edges) {
      out[e.from].push(e);
      into[e.to].push(e);
    }
    const nodes: RefNode[] = drafts.map((d, i) => {
      const counted = into[i].filter((e) => e.counted).length;
      const unrecorded =
        d.count !== null ? Math.max(0, d.count.value - counted) : into[i].length === 0 ? 1 : 0;
      return {
        index: i,
        kind: d.kind,
        label: d.label,
        count: d.count,
        note: d.note,
        root: d.kind === 'task',
        unrecorded: d.kind === 'task' ? 0 : unrecorded,
      };
    });
    return { nodes, edges, out, in: into };
  }
}

/**
 * The live objects of `kernel` (and of its IOMMU subsystem `core`, when it has one) and the
 * references between them, right now.
 *
 * @example
 *   const g = buildRefGraph(kernel, core);
 *   g.nodes.filter((n) => n.kind === 'mm').map((n) => n.label); // ['mm 1'] if mm 1 leaked
 */
export function buildRefGraph(kernel: Kernel, core: IommuCore | null): RefGraph {
  return new Builder(kernel, core).build();
}

// ---- strongly connected components ---------------------------------------------------------------

/**
 * The strongly connected components of a directed graph on nodes 0..n-1 that contain a cycle: more
 * than one node, or one node with an edge to itself. Each component is sorted ascending; the list
 * is ordered by first member. Iterative Tarjan, so depth is bounded by n, not by the call stack.
 *
 * @example
 *   cycleComponents(4, [[0, 1], [1, 0], [2, 2], [2, 3]]); // [[0, 1], [2]]
 */
export function cycleComponents(n: number, edges: readonly (readonly [number, number])[]): number[][] {
  const succ: number[][] = Array.from({ length: n }, () => []);
  const selfLoop = new Uint8Array(n);
  for (const [a, b] of edges) {
    succ[a].push(b);
    if (a === b) selfLoop[a] = 1;
  }
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  const result: number[][] = [];
  let next = 0;
  // Explicit call stack: (node, position in its successor list).
  const callNode: number[] = [];
  const callPos: number[] = [];
  for (let s = 0; s < n; s++) {
    if (index[s] !== -1) continue;
    callNode.push(s);
    callPos.push(0);
    index[s] = low[s] = next++;
    stack.push(s);
    onStack[s] = 1;
    while (callNode.length > 0) {
      const top = callNode.length - 1;
      const v = callNode[top];
      const pos = callPos[top];
      if (pos < succ[v].length) {
        callPos[top] = pos + 1;
        const w = succ[v][pos];
        if (index[w] === -1) {
          index[w] = low[w] = next++;
          stack.push(w);
          onStack[w] = 1;
          callNode.push(w);
          callPos.push(0);
        } else if (onStack[w]) {
          low[v] = Math.min(low[v], index[w]);
        }
        continue;
      }
      callNode.pop();
      callPos.pop();
      if (callNode.length > 0) {
        const parent = callNode[callNode.length - 1];
        low[parent] = Math.min(low[parent], low[v]);
      }
      if (low[v] !== index[v]) continue;
      const comp: number[] = [];
      for (;;) {
        const w = stack.pop()!;
        onStack[w] = 0;
        comp.push(w);
        if (w === v) break;
      }
      if (comp.length > 1 || selfLoop[v]) result.push(comp.sort((a, b) => a - b));
    }
  }
  return result.sort((a, b) => a[0] - b[0]);
}

// ---- the shutdown report -------------------------------------------------------------------------

/** Most leaked objects listed one per line; the rest are counted in one more line. */
export const LEAK_LINES_MAX = 256;

/** A reference cycle among leaked objects. */
export interface RefCycle {
  /** Every object of the strongly connected component, in node order. */
  readonly members: readonly number[];
  /** One closed walk through the first member: its edges, in order. */
  readonly walk: readonly RefEdge[];
}

/** What the graph says at shutdown: objects no live thread reaches, and the cycles among them. */
export interface RefReport {
  readonly leaked: readonly number[];
  readonly cycles: readonly RefCycle[];
  /** The report, cycles first, then one line per leaked object with its path. */
  readonly lines: readonly string[];
}

function reachableFromRoots(g: RefGraph): Uint8Array {
  const seen = new Uint8Array(g.nodes.length);
  const queue: number[] = [];
  for (const n of g.nodes) {
    if (n.root) {
      seen[n.index] = 1;
      queue.push(n.index);
    }
  }
  for (let i = 0; i < queue.length; i++) {
    for (const e of g.out[queue[i]]) {
      if (!seen[e.to]) {
        seen[e.to] = 1;
        queue.push(e.to);
      }
    }
  }
  return seen;
}

/** The shortest closed walk from `start` back to itself inside `members`. */
function closedWalk(g: RefGraph, start: number, members: ReadonlySet<number>): RefEdge[] {
  const via = new Map<number, RefEdge>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    for (const e of g.out[queue[i]]) {
      if (!members.has(e.to)) continue;
      if (e.to === start) {
        const walk = [e];
        for (let at = e.from; at !== start; at = via.get(at)!.from) walk.push(via.get(at)!);
        return walk.reverse();
      }
      if (!via.has(e.to)) {
        via.set(e.to, e);
        queue.push(e.to);
      }
    }
  }
  throw new Error(`node ${start} is on no cycle of its component`);
}

function countText(n: RefNode): string {
  const parts: string[] = [];
  if (n.count !== null) parts.push(`${n.count.name} ${n.count.value}`);
  if (n.note !== '') parts.push(n.note);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

function unrecordedText(n: RefNode): string {
  if (n.count === null) return 'held by nothing the model records';
  const s = n.unrecorded === 1 ? '' : 's';
  return `${n.unrecorded} ${n.count.ref} reference${s} that no object holds (never dropped)`;
}

function pathText(g: RefGraph, edges: readonly RefEdge[]): string {
  return edges.map((e) => ` -[${e.kind}]-> ${g.nodes[e.to].label}`).join('');
}

/**
 * Why `target` is alive: one path of references to it, from the nearest object holding a reference
 * nothing accounts for, else from the nearest object on a cycle.
 */
function holdingPath(g: RefGraph, target: number, cycleOf: Int32Array): string {
  const via = new Map<number, RefEdge>();
  const order = [target];
  const seen = new Set([target]);
  for (let i = 0; i < order.length; i++) {
    for (const e of g.in[order[i]]) {
      if (!seen.has(e.from)) {
        seen.add(e.from);
        via.set(e.from, e);
        order.push(e.from);
      }
    }
  }
  const pathFrom = (source: number): RefEdge[] => {
    const edges: RefEdge[] = [];
    for (let at = source; at !== target; at = via.get(at)!.to) edges.push(via.get(at)!);
    return edges;
  };
  const unrecorded = order.find((i) => g.nodes[i].unrecorded > 0);
  if (unrecorded !== undefined) {
    const src = g.nodes[unrecorded];
    return `${src.label} [${unrecordedText(src)}]${pathText(g, pathFrom(unrecorded))}`;
  }
  const onCycle = order.find((i) => i !== target && cycleOf[i] >= 0);
  if (onCycle !== undefined) {
    return `${g.nodes[onCycle].label} [on cycle #${cycleOf[onCycle] + 1}]${pathText(g, pathFrom(onCycle))}`;
  }
  return 'held by nothing the model records';
}

/**
 * The objects of `g` no live thread reaches (every one of them, after the last process exited),
 * each with a path of references that keeps it, and the reference cycles among them.
 *
 * @example
 *   refReport(buildRefGraph(kernel, core)).lines;
 *   // ['reference cycle #1: file 5 (accel-dsa0) -[private_data]-> user context 1 of dsa0 -> ...',
 *   //  'leaked file 5 (accel-dsa0) (f_count 1): VMA ... of mm 1 [on cycle #1] -[vm_file]-> file 5 ...', ...]
 */
export function refReport(g: RefGraph): RefReport {
  const reached = reachableFromRoots(g);
  const leaked = g.nodes.filter((n) => !reached[n.index]).map((n) => n.index);
  const edges: [number, number][] = [];
  for (const e of g.edges) if (!reached[e.from] && !reached[e.to]) edges.push([e.from, e.to]);
  const cycleOf = new Int32Array(g.nodes.length).fill(-1);
  const cycles: RefCycle[] = cycleComponents(g.nodes.length, edges).map((members, k) => {
    for (const m of members) cycleOf[m] = k;
    return { members, walk: closedWalk(g, members[0], new Set(members)) };
  });
  const lines: string[] = [];
  cycles.forEach((c, k) => {
    const start = g.nodes[c.members[0]];
    const onWalk = new Set(c.walk.map((e) => e.from));
    const others = c.members.filter((m) => !onWalk.has(m)).map((m) => g.nodes[m].label);
    const spaces = c.members
      .map((m) => g.nodes[m])
      .filter((n) => n.kind === 'addressSpace')
      .map((n) => `${n.label} keeps mm_users ${n.count!.value} with no thread left, so exit_mmap never runs`);
    lines.push(
      `reference cycle #${k + 1}: ${start.label}${pathText(g, c.walk)}` +
        (others.length > 0 ? `; also on it: ${others.join(', ')}` : '') +
        `; nothing outside the cycle drops these references` +
        (spaces.length > 0 ? `: ${spaces.join('; ')}` : ''),
    );
  });
  for (const i of leaked.slice(0, LEAK_LINES_MAX)) {
    const n = g.nodes[i];
    lines.push(`leaked ${n.label}${countText(n)}: ${holdingPath(g, i, cycleOf)}`);
  }
  if (leaked.length > LEAK_LINES_MAX)
    lines.push(`... and ${leaked.length - LEAK_LINES_MAX} more leaked objects`);
  return { leaked, cycles, lines };
}
