// How the daemon runs the manager side of a node. @shoal/manager's Manager class is being
// written in parallel; until its API settles the daemon talks to it through this narrow
// interface and loads it at run time, failing with a clear message when it is not there yet.
//
// TODO(manager): the daemon needs from @shoal/manager an export
//   `class Manager { constructor(opts: ManagerBootOptions); start(); stop(); grpcServices(); metrics }`
// (names below; `services()` is read after start() resolves, the gRPC servers are already bound
// with lazy stand-ins by then; a 'removed' event or `removed` promise ends the process).
// In mode 'init' the manager must create the cluster object and its own Node object (role
// manager, raft id); the agent then opens its session with that node id. Once it lands, replace
// the dynamic import with a static one and delete the structural fallbacks.
import type { grpc } from '@shoal/api';
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
   *  - 'init': a new cluster with this node as the only voter (creates the cluster object, join tokens)
   *  - 'join': just added through Raft.Join; `peers` are the members the leader sent
   *  - 'restart': recover everything from dataDir
   */
  mode: 'init' | 'join' | 'restart';
  peers: RaftPeer[];
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
  services(): ManagerServices;
  metrics(): MetricsSource | undefined;
  /** resolves with a message when this manager learns it was removed from the cluster */
  removed?: Promise<string>;
}

export class ManagerUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManagerUnavailableError';
  }
}

type Ctor = new (opts: ManagerBootOptions) => Record<string, unknown>;

/** Loads @shoal/manager and builds its Manager; throws ManagerUnavailableError when it has none. */
export async function createManager(opts: ManagerBootOptions): Promise<ManagerHandle> {
  const mod = (await import('@shoal/manager')) as unknown as Record<string, unknown>;
  const ctor = mod['Manager'] as Ctor | undefined;
  if (typeof ctor !== 'function') {
    throw new ManagerUnavailableError('this build of @shoal/manager has no Manager class yet: a node cannot run as a manager');
  }
  const m = new ctor(opts);
  const call = async (name: string): Promise<void> => {
    const f = m[name];
    if (typeof f === 'function') await (f as () => Promise<void>).call(m);
  };
  // "removed": a `removed` promise on the manager, or a 'removed' event if it is an EventEmitter
  let removed: Promise<string> | undefined;
  const prop = m['removed'];
  if (prop && typeof (prop as Promise<unknown>).then === 'function') removed = (prop as Promise<unknown>).then((v) => (typeof v === 'string' ? v : 'removed from raft'));
  else if (typeof m['on'] === 'function') {
    removed = new Promise<string>((resolve) => {
      (m['on'] as (ev: string, fn: (why?: unknown) => void) => void).call(m, 'removed', (why) => resolve(typeof why === 'string' ? why : 'removed from raft'));
    });
  }
  return {
    ...(removed ? { removed } : {}),
    start: () => call('start'),
    stop: () => call('stop'),
    services: () => {
      const f = m['grpcServices'] ?? m['services'];
      return typeof f === 'function' ? ((f as () => ManagerServices).call(m) ?? {}) : {};
    },
    metrics: () => {
      const met = m['metrics'] as { text?: () => Promise<string>; registry?: { metrics(): Promise<string> } } | undefined;
      if (met && typeof met.text === 'function') return { text: () => met.text!() };
      if (met?.registry) return { text: () => met.registry!.metrics() };
      return undefined;
    },
  };
}
