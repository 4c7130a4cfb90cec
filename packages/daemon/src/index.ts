// @shoal/daemon: shoald's building blocks (the binary is src/main.ts).
export { Daemon, RemovedError, EXIT_REMOVED, type DaemonOptions } from './daemon.js';
export { resolveConfig, parseAddr, parseLabels, parseHeartbeat, ConfigError, DEFAULTS, type DaemonConfig, type RawFlags, type RuntimeKind } from './config.js';
export { readIdentity, writeIdentity, writeFileAtomic, validateIdentity, identityPath, IdentityError, type NodeIdentityFile, type NodeAddrs } from './identity.js';
export { daemonLogger, type Logger, type LogFormat, type LogLevel } from './log.js';
export { agentRegistry, MetricsServer } from './metrics.js';
export { register, raftJoin, checkMembership, leaderAddrOf, type Registration, type Membership } from './join.js';
export type { ManagerBootOptions, ManagerHandle, ManagerServices, RaftPeer } from './manager-host.js';
