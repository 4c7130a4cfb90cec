// @shoal/manager public surface.
export { ControlServer, type LeaderInfo, type ControlServerOptions } from './controlapi/server.js';
export type { ControlDeps } from './controlapi/deps.js';
export * from './controlapi/validate.js';
export { Dispatcher, type DispatcherOptions } from './dispatcher/dispatcher.js';
export { LeaderLoops, ManualLeadership, type LeaderLoop, type LoopContext, type LeadershipSource, type LeadershipState } from './leader-loops.js';
export { ManagerMetrics } from './metrics.js';
export { ensureCluster, getCluster } from './ca/cluster.js';
export { generateJoinToken, parseJoinToken, roleForToken, caDigest } from './ca/join-tokens.js';
export type { ManagerState, ReadTx, WriteTx, Commit, Change, Tables, TableName } from './state/state.js';
export { MemoryState } from './state/memory-state.js';
export { StoreState } from './state/store-adapter.js';
export { realClock, VirtualClock, type Clock } from './util/clock.js';
export { jsonLogger, silentLogger, type Logger } from './util/log.js';
export { Manager, type ManagerOptions, type ManagerPeer, type ManagerRaftOptions, type ManagerGrpcServices } from './manager.js';
export { controlLoops, OrchestratorLoop, SchedulerLoop, UpdaterLoop, DispatcherLoop, TaskMetricsLoop, BootstrapLoop, type LoopDeps, type SelfNode } from './loops/index.js';
