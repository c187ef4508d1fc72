// The P2P extension (migrate-device.md section 12, the 2025 proposal): devices that share an
// interconnect cluster reach each other's private pages in place; everyone else, and every device
// when the option is off, gets mainline behaviour (the page migrates back to RAM). Revoking the
// owner's memory (RELEASE, hot-unplug) must take the peers' mappings away first.

import { describe, expect, it } from 'vitest';
import { fnv1a, patternPage } from '../../test/pattern.js';
import { DmirrorDriver } from '../devices/dmirror/device.js';
import {
  type DmirrorCmd,
  HMM_DMIRROR_MIGRATE_TO_DEV,
  HMM_DMIRROR_MIGRATE_TO_SYS,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_RELEASE,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
} from '../devices/dmirror/uapi.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../mm/constants.js';
import { Kernel } from '../mm/kernel.js';
import type { Task } from '../mm/task.js';

const BASE = 0x100000000000;
const N = 4;

function setup(p2p: boolean, clusters: (string | null)[]) {
  const kernel = new Kernel({ ramBytes: 256 * 1024 * 1024, p2p });
  const driver = new DmirrorDriver(kernel, { coherent: false, p2pClusters: clusters });
  const task = kernel.spawn();
  expect(
    task.mmap(BASE, N * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
  ).toBe(BASE);
  for (let i = 0; i < N; i++) task.write(BASE + i * PAGE_SIZE, patternPage(7, i));
  const d0 = driver.open(task, 0);
  const d1 = driver.open(task, 1);
  return { kernel, driver, task, d0, d1 };
}

function cmd(): DmirrorCmd {
  return { addrVpn: BASE / PAGE_SIZE, npages: N, cpages: 0, faults: 0 };
}

function snapshot(driver: DmirrorDriver, task: Task, fd: number): string[] {
  const out = new Uint8Array(N);
  expect(driver.ioctl(task, fd, HMM_DMIRROR_SNAPSHOT, cmd(), out)).toBe(0);
  return [...out].map((b) => b.toString(16).padStart(2, '0'));
}

function read(driver: DmirrorDriver, task: Task, fd: number): { faults: number; sums: string[] } {
  const c = cmd();
  const data = new Uint8Array(N * PAGE_SIZE);
  expect(driver.ioctl(task, fd, HMM_DMIRROR_READ, c, data)).toBe(0);
  const sums: string[] = [];
  for (let i = 0; i < N; i++) sums.push(fnv1a(data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE)));
  return { faults: c.faults, sums };
}

const want = Array.from({ length: N }, (_, i) => fnv1a(patternPage(7, i)));

describe('P2P between devices of one interconnect', () => {
  it('off (mainline): a peer READ brings the pages back to RAM', () => {
    const { driver, task, d0, d1 } = setup(false, ['nvlink', 'nvlink']);
    expect(driver.ioctl(task, d0, HMM_DMIRROR_MIGRATE_TO_DEV, cmd(), new Uint8Array(N * PAGE_SIZE))).toBe(0);
    expect(read(driver, task, d1)).toEqual({ faults: 1, sums: want });
    expect(snapshot(driver, task, d0)).toEqual(['02', '02', '02', '02']);
  });

  it('on, same cluster: the peer reads the owner’s device pages in place, nothing migrates', () => {
    const { kernel, driver, task, d0, d1 } = setup(true, ['nvlink', 'nvlink']);
    expect(driver.ioctl(task, d0, HMM_DMIRROR_MIGRATE_TO_DEV, cmd(), new Uint8Array(N * PAGE_SIZE))).toBe(0);
    const migrations = kernel.stats.get('mm.invalidations.migrate');
    expect(read(driver, task, d1)).toEqual({ faults: 1, sums: want });
    expect(kernel.stats.get('mm.invalidations.migrate')).toBe(migrations);
    expect(snapshot(driver, task, d0)).toEqual(['22', '22', '22', '22']);
    // The peer sees the pages as another device's private pages (DEV_PRIVATE_REMOTE | WRITE).
    expect(snapshot(driver, task, d1)).toEqual(['32', '32', '32', '32']);
  });

  it('on, same cluster: a peer write lands in the owner’s memory and comes back with the page', () => {
    const { driver, task, d0, d1 } = setup(true, ['x', 'x']);
    expect(driver.ioctl(task, d0, HMM_DMIRROR_MIGRATE_TO_DEV, cmd(), new Uint8Array(N * PAGE_SIZE))).toBe(0);
    const data = new Uint8Array(N * PAGE_SIZE);
    for (let i = 0; i < N; i++) data.set(patternPage(9, i), i * PAGE_SIZE);
    expect(driver.ioctl(task, d1, HMM_DMIRROR_WRITE, cmd(), data)).toBe(0);
    expect(snapshot(driver, task, d0)).toEqual(['22', '22', '22', '22']);
    const back = cmd();
    expect(driver.ioctl(task, d0, HMM_DMIRROR_MIGRATE_TO_SYS, back)).toBe(0);
    expect(back.cpages).toBe(N);
    expect(fnv1a(task.read(BASE + 2 * PAGE_SIZE, PAGE_SIZE).data)).toBe(fnv1a(patternPage(9, 2)));
  });

  it('on, different clusters: mainline behaviour', () => {
    const { driver, task, d0, d1 } = setup(true, ['a', 'b']);
    expect(driver.ioctl(task, d0, HMM_DMIRROR_MIGRATE_TO_DEV, cmd(), new Uint8Array(N * PAGE_SIZE))).toBe(0);
    expect(read(driver, task, d1)).toEqual({ faults: 1, sums: want });
    expect(snapshot(driver, task, d0)).toEqual(['02', '02', '02', '02']);
  });

  it('revoke: the owner’s RELEASE evicts the pages and takes the peer’s mappings away', () => {
    const { driver, task, d0, d1 } = setup(true, ['x', 'x']);
    expect(driver.ioctl(task, d0, HMM_DMIRROR_MIGRATE_TO_DEV, cmd(), new Uint8Array(N * PAGE_SIZE))).toBe(0);
    expect(read(driver, task, d1).faults).toBe(1);
    expect(read(driver, task, d1).faults).toBe(0);
    expect(driver.ioctl(task, d0, HMM_DMIRROR_RELEASE, { addrVpn: 0, npages: 1, cpages: 0, faults: 0 })).toBe(
      0,
    );
    // The eviction's CLEAR reached the peer: it must fault again, and now finds RAM.
    expect(read(driver, task, d1)).toEqual({ faults: 1, sums: want });
    expect(snapshot(driver, task, d1)).toEqual(['02', '02', '02', '02']);
  });
});
