// Models the kernel's anon_vma: the reverse-map anchor of anonymous pages. A page created in a VMA
// points (by id) at that VMA's own anon_vma; after fork, a child VMA gets its own anon_vma whose
// parent is the parent VMA's, and links into every anon_vma of its chain. So a walk from a page's
// anon_vma visits the VMA it was created in and every VMA forked from it, as rmap_walk_anon does.

import type { Vma } from './vma.js';

export class AnonVma {
  /** Id under which frames name this anon_vma (PhysMem mapping registry), set when registered. */
  id = 0;
  readonly parent: AnonVma | null;
  /** VMAs whose chain includes this anon_vma (the kernel's avc interval tree). */
  readonly vmas = new Set<Vma>();

  constructor(parent: AnonVma | null) {
    this.parent = parent;
  }
}
