// The race finder's public API: explore a world of driver programs, replay and shrink what it
// finds, load explore scenario files (docs/EXPLORE.md).
export {
  explore,
  replaySchedule,
  replaySeed,
  shrinkSchedule,
  type ExploreOptions,
  type ExploreResult,
  type Failure,
  type Strategy,
} from './explore.js';
export { loadExploreScenario, type ExploreScenario } from './scenario.js';
export { MirrorDevice, standardInvalidate, ignoreOwnerInvalidate } from './mirrorDevice.js';
export { AccelPort } from './accelPort.js';
export { Violation, type ViolationKind } from './violation.js';
export type {
  AccelEnv,
  AccelProgram,
  ActorSpec,
  CpuOp,
  DmaAccelOp,
  DriverEnv,
  DriverProgram,
  WorldSpec,
} from './world.js';
export type { GpuAccess, GpuSpec } from './gpu.js';
