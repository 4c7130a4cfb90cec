// How the daemon runs the manager side of a node: @shoal/manager's Manager, seen through the
// narrow handle the daemon needs (start/stop, gRPC services for the daemon's servers, metrics,
// and the news that this manager was removed from the cluster).
import { NodeRole, type grpc } from '@shoal/api';
import { getCluster, Manager } from '@shoal/manager';
import type { Logger } from './log.js';
import type { MetricsSource } from './metrics.js';

export interface RaftPeer {
  raftId: number;
  nodeId: string;
  addr: string;
  learner?: boolean;
}

export interface ManagerBootOptions {
  nodeId: string;
  clusterId: string;
  raftId: number;
  hostname: string;
  labels: Record<string, string>;
  /** directory for the manager's dbs (raft log, snapshots) */
  dataDir: string;
  /** address the other managers and the agents reach this manager at */
  advertiseAddr: string;
  /**
   * How this manager comes up:
   *  - 'init': a new cluster with this node as the only voter (the manager creates the cluster
   *    object, the join tokens and its own Node object once it leads)
   *  - 'join': just added through Raft.Join; `peers` are the members the leader sent
   *  - 'restart': recover everything from dataDir
   */
  mode: 'init' | 'join' | 'restart';
  peers: RaftPeer[];
  /** 'join': the cluster's bootstrap configuration from Raft.Join (without it raft asks the peers) */
  joinConfState?: { voters: number[]; learners: number[] } | undefined;
  heartbeatPeriodMs: number;
  logger: Logger;
}

/** Service implementations to add to the node's gRPC servers. */
export interface ManagerServices {
  control?: grpc.UntypedServiceImplementation;
  dispatcher?: grpc.UntypedServiceImplementation;
  raft?: grpc.UntypedServiceImplementation;
  nodeCA?: grpc.UntypedServiceImplementation;
  ca?: grpc.UntypedServiceImplementation;
  logs?: grpc.UntypedServiceImplementation;
  logBroker?: grpc.UntypedServiceImplementation;
  health?: grpc.UntypedServiceImplementation;
}

export interface ManagerHandle {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** read once start() has resolved (the servers are bound with lazy stand-ins before) */
  services(): ManagerServices;
  metrics(): MetricsSource | undefined;
  /** addresses of the raft members (this manager's view) */
  memberAddrs(): string[];
  /** the cluster's manager join token, once the cluster object exists in this manager's store */
  managerToken(): string | undefined;
  /** resolves with a message when this manager learns it was removed from the cluster */
  removed?: Promise<string>;
  /** the role this node's Node object has in this manager's store (undefined: no such node yet) */
  recordedRole?(): 'manager' | 'worker' | undefined;
  /** raft voters (this manager's view) */
  voters?(): number[];
  /** on the leader: why removing raft member `raftId` would lose quorum (undefined: safe, or not the leader) */
  removalRefusal?(raftId: number): string | undefined;
}

// TODO(manager): CA (GetRootCACertificate) and Health are not in Manager.services() yet; until
// they are, the daemon's lazy stand-in answers UNAVAILABLE for CA and the daemon's own Health
// answers for the node.
/** raft election timeout of a shoald manager, in 100 ms ticks */
export const DAEMON_ELECTION_TICKS = 30;

export async function createManager(opts: ManagerBootOptions): Promise<ManagerHandle> {
  const m = new Manager({
    nodeId: opts.nodeId,
    raftId: opts.raftId,
    clusterId: opts.clusterId,
    dataDir: opts.dataDir,
    advertiseAddr: opts.advertiseAddr,
    hostname: opts.hostname,
    labels: opts.labels,
    mode: opts.mode,
    peers: opts.peers.map((p) => ({ raftId: p.raftId, addr: p.addr, nodeId: p.nodeId, ...(p.learner !== undefined ? { learner: p.learner } : {}) })),
    heartbeatPeriodMs: opts.heartbeatPeriodMs,
    // 100 ms ticks, 3 s election timeout (raft's default is 1 s; swarmkit's is 10 s): a leader
    // holding 100,000 tasks on a loaded machine stalls for more than a second now and then
    // (GC, snapshot encoding), and a 1 s timeout turned each stall into an election. A leader
    // that dies still fails over in about a tick: its broken streams start the election at once.
    raft: { electionTicks: DAEMON_ELECTION_TICKS },
    logger: opts.logger,
    ...(opts.joinConfState ? { joinConfState: opts.joinConfState } : {}),
  });
  return {
    start: () => m.start(),
    stop: () => m.stop(),
    services: () => ({ ...m.services() }),
    metrics: () => ({ text: () => m.metrics.text() }),
    memberAddrs: () => m.members().map((x) => x.addr).filter(Boolean),
    managerToken: () => m.state.view((tx) => getCluster(tx)?.rootCa?.joinTokens?.manager) || undefined,
    removed: m.removed,
    voters: () => m.members().filter((x) => !x.learner).map((x) => x.raftId),
    removalRefusal: (raftId) => (m.isLeader() ? m.raft?.removalRefusal(raftId) : undefined),
    recordedRole: () => {
      const n = m.state.view((tx) => tx.get('nodes', opts.nodeId));
      return n ? (n.role === NodeRole.MANAGER ? 'manager' : 'worker') : undefined;
    },
  };
}
