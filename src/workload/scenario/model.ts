// A scenario after validation: every size in bytes, every duration in ns, every pattern an object,
// references checked. This is what the runner executes; files become this through load.ts.

import type { CostModel, CostProfileName } from '../../sim/costModel.js';
import type { FaultLatencyMode, MigrationGranularity } from '../../devices/gpu/gpu.js';
import type { PolicyChoice, PolicyChoices } from '../../devices/gpu/policies/registry.js';
import type { PatternSpec } from '../patterns.js';
import type { GpuWorkload } from '../gpu/types.js';

export interface RegionPart {
  /** Byte offset into the region (default 0). */
  readonly offsetBytes: number;
  /** Bytes from the offset (default: to the end of the region). */
  readonly sizeBytes: number | null;
}

export type Op =
  | {
      readonly op: 'mmap';
      readonly name: string;
      readonly sizeBytes: number;
      readonly prot: 'rw' | 'r' | 'none';
      readonly shared: boolean;
      readonly hugepage: boolean;
      readonly populate: boolean;
      /** Map this descriptor's file (shared) instead of anonymous memory. */
      readonly fd?: string;
    }
  | ({ readonly op: 'munmap'; readonly region: string } & RegionPart)
  | ({ readonly op: 'mprotect'; readonly region: string; readonly prot: 'rw' | 'r' | 'none' } & RegionPart)
  | ({
      readonly op: 'madvise';
      readonly region: string;
      readonly advice: 'dontneed' | 'hugepage' | 'willneed' | 'cold' | 'populate-read' | 'populate-write';
    } & RegionPart)
  | ({
      readonly op: 'touch';
      readonly region: string;
      readonly write: boolean;
      readonly pattern: PatternSpec;
    } & RegionPart)
  | { readonly op: 'sleep'; readonly timeNs: number }
  | { readonly op: 'exit' }
  | { readonly op: 'fork'; readonly name: string; readonly program: readonly Op[] }
  | ({
      readonly op: 'gpu';
      readonly device: string;
      readonly region: string;
      readonly write: boolean;
      readonly pattern: PatternSpec;
      readonly wait: boolean;
      readonly mode?: 'migrate' | 'mirror';
      readonly atomic: boolean;
    } & RegionPart)
  | ({
      readonly op: 'prefetch';
      readonly device: string;
      readonly region: string;
      readonly to: 'device' | 'host';
    } & RegionPart)
  | {
      readonly op: 'workload';
      readonly device: string;
      /** The workload, built with the run's seed (its params already validated). */
      readonly build: (seed: number) => GpuWorkload;
      readonly label: string;
      readonly region: string;
      readonly hostInit: 'inputs' | 'all' | 'none';
      readonly hostSteps: boolean;
      /** Seed of synthetic inputs; undefined: drawn from the run's seed. */
      readonly seed?: number;
      readonly mode?: 'migrate' | 'mirror';
    }
  | { readonly op: 'open'; readonly device: string; readonly as: string }
  | { readonly op: 'close'; readonly fd: string }
  | ({
      readonly op: 'dma';
      readonly device: string;
      readonly fd: string;
      readonly region: string;
      readonly write: boolean;
      readonly wait: boolean;
    } & RegionPart)
  | { readonly op: 'wait' };

export interface IommuSpec {
  readonly name: string;
  readonly flavour: 'vtd' | 'smmu' | 'amd';
  readonly prqDepth?: number;
  readonly hwAccessDirty?: boolean;
  readonly asidBits?: number;
  readonly smmuPri?: boolean;
  readonly smmuSharedCpuAsid?: boolean;
  readonly forceStall?: boolean;
}

export type DeviceSpec =
  | {
      readonly kind: 'gpu';
      readonly name: string;
      readonly memoryBytes: number;
      readonly mode: 'migrate' | 'mirror';
      readonly sms?: number;
      readonly clockMHz?: number;
      readonly blocksPerSm?: number;
      readonly cyclesPerAccess?: number;
      readonly accessesPerStep?: number;
      readonly tlbEntries?: number;
      readonly tlbWays?: number;
      readonly tlbMissCycles?: number;
      readonly faultBufferEntries?: number;
      readonly migrationGranularity: MigrationGranularity;
      readonly faultLatency: FaultLatencyMode;
      readonly policies?: PolicyChoices | 'uvm';
      readonly prefetchAfterEviction?: PolicyChoice;
      readonly cluster?: string;
    }
  | {
      readonly kind: 'accel';
      readonly name: string;
      readonly iommu: string;
      readonly bus: 'pci' | 'platform';
      readonly maxPasids?: number;
      readonly ats?: boolean;
      readonly pri?: boolean;
      readonly prgRespPasidRequired?: boolean;
      readonly priAllocation?: number;
      readonly stall?: boolean;
      readonly atcEntries?: number;
      readonly pagesPerGroup?: number;
    };

export interface MachineSpec {
  readonly ramBytes: number;
  readonly contentMode: 'tokens' | 'bytes';
  readonly thp: 'never' | 'madvise' | 'always';
  readonly hugetlbPages: number;
  readonly p2p: boolean;
  readonly costProfile: CostProfileName;
  readonly costOverrides: Partial<Omit<CostModel, 'profile'>>;
  readonly limits: { readonly maxEvents?: number; readonly maxSimNs?: number; readonly maxRetries?: number };
  readonly sampleEveryNs: number;
  readonly iommus: readonly IommuSpec[];
  readonly sva: {
    readonly pasidReuse?: 'smallestFree' | 'cyclic' | 'quarantine' | 'exhaustFirst';
    readonly pasidQuarantineNs?: number;
    readonly pasidQuarantineNeedsAck?: boolean;
    readonly exitQuiesceMode?: 'flavour' | 'notPresentSuppressed' | 'dummyRoot' | 'clearReporting';
    readonly dummyRootReports?: boolean;
    readonly strictUnbind?: boolean;
    readonly bondHoldsMm?: 'mm_count' | 'mm_users';
  };
  readonly devices: readonly DeviceSpec[];
}

export interface ProcessSpec {
  readonly name: string;
  readonly startNs: number;
  readonly program: readonly Op[];
}

export type Expectation =
  | { readonly metric: string; readonly min?: number; readonly max?: number; readonly equals?: number }
  | { readonly noLeaks: true };

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly seed: number;
  readonly machine: MachineSpec;
  readonly processes: readonly ProcessSpec[];
  readonly expect: readonly Expectation[];
  /** Page traces the patterns use, by file name (read by the loader). */
  readonly traces: ReadonlyMap<string, Int32Array>;
  /** Where the scenario came from (for messages). */
  readonly source: string;
}
