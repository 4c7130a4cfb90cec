export { RaftNode, type RaftNodeEvents } from './node.js';
export { raftService, toServiceError, leaderFromError, LEADER_TRAILER } from './service.js';
export { DEFAULTS as RAFT_DEFAULTS, type RaftNodeOptions, type StateMachine, type Member } from './options.js';
export { snapshotStaggerFor } from './snapshots.js';
