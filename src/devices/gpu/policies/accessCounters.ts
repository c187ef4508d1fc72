// Access-counter migration (NVIDIA Volta and later, uvm_gpu_access_counters.c): the GPU counts its
// remote accesses per region of system memory; when a region's counter reaches `threshold` the
// driver is notified and migrates the region into GPU memory. Pages mapped remotely (mirror mode,
// or thrashing mitigation) thus move once they prove hot instead of on first touch.

import { z } from 'zod';
import type { AccessCounterPolicy, PolicyDefinition } from './types.js';

const GRANULARITY_PAGES = { '64KiB': 16, '2MiB': 512, '16MiB': 4096 } as const;

const none: PolicyDefinition<AccessCounterPolicy> = {
  name: 'none',
  description: 'no access counters: remote pages stay remote',
  params: z.strictObject({}),
  create: () => ({ name: 'none', regionPages: 512, remoteAccess: () => -1 }),
};

const migrate: PolicyDefinition<
  AccessCounterPolicy,
  { threshold: number; granularity: keyof typeof GRANULARITY_PAGES }
> = {
  name: 'migrate',
  description: 'a region with `threshold` remote accesses migrates to the GPU (UVM: 256 per 2 MiB)',
  params: z.strictObject({
    threshold: z.number().int().min(1).max(65_535).default(256),
    granularity: z.enum(['64KiB', '2MiB', '16MiB']).default('2MiB'),
  }),
  create: ({ threshold, granularity }) => {
    const regionPages = GRANULARITY_PAGES[granularity];
    const counts = new Map<number, number>();
    return {
      name: 'migrate',
      regionPages,
      remoteAccess(spaceIndex, vpn) {
        const region = Math.floor(vpn / regionPages);
        const key = spaceIndex * 2 ** 36 + region;
        const n = (counts.get(key) ?? 0) + 1;
        if (n < threshold) {
          counts.set(key, n);
          return -1;
        }
        counts.delete(key);
        return region * regionPages;
      },
    };
  },
};

export const ACCESS_COUNTER_POLICIES: readonly PolicyDefinition<AccessCounterPolicy, never>[] = [
  none,
  migrate,
] as never;
