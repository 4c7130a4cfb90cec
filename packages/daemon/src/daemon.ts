// The Daemon: one node's process. Wires the manager (on managers) and the agent (on every node)
// together with the gRPC servers, the control socket and /metrics, and takes them down in
// reverse order. Only this package joins manager and agent (see ARCHITECTURE.md, layering).
import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import { arch, cpus, platform, totalmem } from 'node:os';
import { join } from 'node:path';
import { Agent, TaskDb } from '@shoal/agent';
import { NodeRole, type grpc, type NodeDescription } from '@shoal/api';
import type { Runtime } from '@shoal/runtime';
import type { DaemonConfig } from './config.js';
import { writeFileAtomic, writeIdentity, type NodeIdentityFile } from './identity.js';
import { checkMembership, currentRole, raftJoin, raftLeave } from './join.js';
import { dropNodeState, LeaveError, MANAGER_REFUSAL, removePidFile, writePidFile } from './leave.js';
import { errorMessage, type Logger } from './log.js';
import { createManager, type ManagerHandle, type ManagerServices, type RaftPeer } from './manager-host.js';
import { agentRegistry, MetricsServer, registrySource, type MetricsSource } from './metrics.js';
import { createRuntime } from './runtime.js';
import { PEERS_FILE, TOKEN_FILE } from './files.js';
import { lazyService, nodeHealth, startControlSocket, startServers, stopServer, type NodeServers } from './servers.js';

export interface DaemonOptions {
  config: DaemonConfig;
  identity: NodeIdentityFile;
  mode: 'init' | 'join' | 'restart';
  /** raft members the leader sent on join */
  peers?: RaftPeer[];
  /** the cluster's bootstrap configuration Raft.Join answered (a joining manager's raft starts from it) */
  joinConfState?: JoinConfState;
  /** the token the node joined with (the agent re-registers with it if its db lost the identity) */
  joinToken?: string;
  log: Logger;
  /** build the runtime (tests inject one) */
  runtime?: Runtime;
}

export interface DaemonEvents {
  /** the node can no longer run (e.g. it was removed from the cluster); the process should exit */
  fatal: [{ message: string; exitCode: number }];
}

export const EXIT_REMOVED = 3;

/** Consecutive failed session attempts after which the daemon asks whether it was removed. */
const MEMBERSHIP_CHECK_AFTER = 5;

export class Daemon extends EventEmitter<DaemonEvents> {
  private manager: ManagerHandle | undefined;
  private agent: Agent | undefined;
  private runtime: Runtime | undefined;
  private servers: NodeServers | undefined;
  private metricsServer: MetricsServer | undefined;
  private stopping = false;
  private failedSessions = 0;
  private checking = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  private roleTimer: NodeJS.Timeout | undefined;
  /** the running manager's gRPC services (undefined: the lazy stand-ins answer UNAVAILABLE) */
  private live: ManagerServices | undefined;
  private tcpServices: ManagerServices = {};
  private controlServer: grpc.Server | undefined;
  /** a role change (demotion or promotion) is being carried out */
  private switching = false;
  /** after a demotion: do not act on role MANAGER until the managers have recorded role WORKER */
  private awaitWorkerRecord = false;
  /** a leave is under way: the raft removal it causes is not a demotion */
  private leaving = false;
  readonly log: Logger;

  constructor(readonly opts: DaemonOptions) {
    super();
    this.log = opts.log.child({ component: 'daemon' });
  }

  get identity(): NodeIdentityFile {
    return this.opts.identity;
  }

  get isManager(): boolean {
    return this.opts.identity.role === 'manager';
  }

  /** Addresses of the managers the agent and the membership check talk to. */
  managerAddrs(): string[] {
    const id = this.opts.identity;
    const own = this.isManager ? [id.addrs.advertise] : [];
    const members = this.manager?.memberAddrs() ?? [];
    const current = this.agent?.session.managers ?? [];
    return [...new Set([...own, ...members, ...current, ...id.addrs.managers])];
  }

  async start(): Promise<void> {
    const { config: c, identity: id, log } = this.opts;
    log.info('starting', { nodeId: id.nodeId, role: id.role, clusterId: id.clusterId, raftId: id.raftId, mode: this.opts.mode, dataDir: c.dataDir });

    if (this.opts.mode === 'restart') {
      // Managers other than ourselves can tell whether we were removed while we were away.
      const others = id.addrs.managers.filter((a) => a !== id.addrs.advertise);
      if (others.length) {
        const m = await checkMembership(others, id.nodeId, log, 3_000, this.renewal());
        if (m.state === 'removed') throw new RemovedError(id.nodeId, m.message);
        if (m.state === 'unknown') log.info('membership not confirmed (no manager answered); starting anyway', { reason: m.message });
      }
    }

    writePidFile(c.dataDir);
    this.runtime = this.opts.runtime ?? createRuntime(c, id.nodeId);

    // Every node's TCP server carries the manager's services as lazy stand-ins (UNAVAILABLE while
    // this node runs no manager), so that a promotion needs no rebind and a joining manager already
    // answers the leader's raft stream while it starts up and catches up.
    const own = nodeHealth(() => this.healthDetails());
    const services: ManagerServices = { health: lazyService('health', () => ({ health: this.live?.health ?? own })) };
    for (const name of ['control', 'dispatcher', 'raft', 'nodeCA', 'ca', 'logs', 'logBroker'] as const) services[name] = lazyService(name, () => this.live);
    this.tcpServices = services;
    this.servers = await startServers({ listenAddr: c.listenAddr, controlSocket: undefined, services, log });

    if (this.isManager) await this.startManager(this.opts.mode, this.opts.peers ?? [], this.opts.joinConfState);

    await this.seedAgentIdentity();
    this.agent = new Agent({
      dataDir: join(c.dataDir, 'agent'),
      managers: this.managerAddrs(),
      joinToken: this.opts.joinToken ?? '',
      runtime: this.runtime,
      hostname: c.hostname,
      nodeDescription: this.nodeDescription(),
      dataPathAddr: id.addrs.advertise.slice(0, id.addrs.advertise.lastIndexOf(':')),
      logger: this.opts.log,
    });
    this.agent.on('session', ({ state }) => this.onSessionState(state));
    await this.agent.start();
    this.refreshManagers();
    this.roleTimer = setInterval(() => void this.watchRole(), Math.max(5_000, 4 * c.heartbeatPeriodMs));
    this.roleTimer.unref();

    if (c.metricsAddr) {
      const agentReg = agentRegistry(
        () => this.agent?.metrics(),
        () => ({ nodeId: id.nodeId, role: id.role }),
      );
      const sources = (): MetricsSource[] => {
        const out = [registrySource(agentReg)];
        const m = this.manager?.metrics();
        if (m) out.push(m);
        return out;
      };
      this.metricsServer = new MetricsServer(sources, log.child({ component: 'metrics' }));
      await this.metricsServer.listen(c.metricsAddr);
    }
    log.info('node ready', { nodeId: id.nodeId, role: id.role, listen: this.servers.tcpAddr, control: this.isManager ? c.controlSocket : undefined, metrics: c.metricsAddr || undefined });
  }

  /** Stops everything in reverse order; safe to call more than once. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const log = this.log;
    const step = async (what: string, fn: () => Promise<void> | void): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        log.warn(`stopping ${what} failed`, { err: errorMessage(err) });
      }
    };
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.roleTimer) clearInterval(this.roleTimer);
    await step('metrics', () => this.metricsServer?.close());
    await step('agent', () => this.agent?.stop());
    await step('control socket', () => stopServer(this.controlServer));
    await step('manager', () => this.manager?.stop());
    await step('grpc server', () => stopServer(this.servers?.tcp));
    await step('runtime', () => this.runtime?.close());
    removePidFile(this.opts.config.dataDir);
    log.info('stopped');
  }

  /**
   * Leave the swarm (shoald leave): a manager (only with force) leaves raft through the leader,
   * then the node stops its agent and manager, removes its task containers and drops its node
   * state (identity, task db, raft state) so that the data dir can join again as a new node. The
   * managers see the node go DOWN; `shoal node rm` removes it. Rejects, changing nothing, when
   * the leave is refused.
   */
  async leave(force: boolean): Promise<void> {
    const { config: c, identity: id } = this.opts;
    if (this.stopping || this.leaving) throw new LeaveError('the node is already stopping');
    if (this.switching) throw new LeaveError('the node is changing role; try again');
    const raftId = id.raftId ?? 0;
    if (this.isManager && !force) {
      const why = this.manager?.removalRefusal?.(raftId);
      throw new LeaveError(why ? `${MANAGER_REFUSAL}; it would also lose raft quorum (${why})` : MANAGER_REFUSAL);
    }
    const voters = this.manager?.voters?.() ?? [];
    this.leaving = true;
    try {
      // the last voter has no one to tell: the cluster goes with it
      if (this.isManager && raftId && !(voters.length === 1 && voters[0] === raftId)) {
        this.log.warn('leaving the swarm: removing this manager from raft', { raftId: id.raftId });
        await raftLeave([...new Set([...this.managerAddrs().filter((a) => a !== id.addrs.advertise), id.addrs.advertise])], raftId, this.log);
      }
    } catch (err) {
      this.leaving = false;
      throw new LeaveError(`leaving raft failed: ${errorMessage(err)}`);
    }
    this.log.info('leaving the swarm', { nodeId: id.nodeId, role: id.role });
    const runtime = this.runtime;
    this.runtime = undefined;
    await this.stop();
    if (runtime) {
      // as docker swarm leave: the node's task containers go with it
      try {
        for (const ctr of await runtime.list()) {
          await runtime.stop(ctr.handle).catch(() => {});
          await runtime.remove(ctr.handle).catch(() => {});
        }
        await runtime.prune?.(new Set());
      } catch (err) {
        this.log.warn('removing task containers failed', { err: errorMessage(err) });
      }
      await runtime.close().catch(() => {});
    }
    dropNodeState(c.dataDir);
    this.log.info('left the swarm', { nodeId: id.nodeId });
  }

  // ---------------------------------------------------------------- manager side and roles

  /** Create and start this node's manager, then serve it (TCP stand-ins go live, control socket). */
  private async startManager(mode: 'init' | 'join' | 'restart', peers: RaftPeer[], joinConfState?: JoinConfState): Promise<void> {
    const { config: c, identity: id } = this.opts;
    const m = await createManager({
      nodeId: id.nodeId,
      clusterId: id.clusterId,
      raftId: id.raftId ?? 0,
      hostname: c.hostname,
      labels: c.labels,
      dataDir: join(c.dataDir, 'manager'),
      advertiseAddr: id.addrs.advertise,
      mode,
      peers,
      joinConfState,
      heartbeatPeriodMs: c.heartbeatPeriodMs,
      logger: this.opts.log,
    });
    this.manager = m;
    m.removed?.then((message) => this.onRaftRemoved(m, message)).catch(() => {});
    await m.start();
    this.live = m.services();
    this.controlServer = await startControlSocket(c.controlSocket, { control: this.tcpServices.control!, logs: this.tcpServices.logs!, health: this.tcpServices.health! }, this.log);
    rmSync(join(c.dataDir, PEERS_FILE), { force: true });
    // The dispatcher sends the manager list only when a session opens: a manager that started
    // alone would otherwise keep only itself. Raft knows every manager; hand them to the agent.
    this.refreshTimer = setInterval(() => this.refreshManagers(), 2_000);
    this.refreshTimer.unref();
  }

  private async stopManager(): Promise<void> {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
    this.live = undefined;
    await stopServer(this.controlServer);
    this.controlServer = undefined;
    const m = this.manager;
    this.manager = undefined;
    await m?.stop();
  }

  /**
   * This manager was removed from raft. Still a member of the cluster (a demotion): carry on as a
   * worker with the same node id. Removed from the cluster too: exit.
   */
  private async onRaftRemoved(m: ManagerHandle, message: string): Promise<void> {
    if (this.stopping || this.leaving || this.manager !== m) return;
    const id = this.opts.identity;
    const others = this.managerAddrs().filter((a) => a !== id.addrs.advertise);
    const mem = others.length ? await checkMembership(others, id.nodeId, this.log, 10_000, this.renewal()) : { state: 'unknown' as const, message: 'no other manager' };
    if (mem.state === 'removed') {
      this.fail(new RemovedError(id.nodeId, `${message}; ${mem.message}`).message, EXIT_REMOVED);
      return;
    }
    this.switching = true;
    // a demotion records role WORKER before the removal: then a later role MANAGER is a promotion
    const recorded = m.recordedRole?.();
    try {
      this.log.warn('this manager left raft (demoted); continuing as a worker', { reason: message, raftId: id.raftId, recordedRole: recorded });
      await this.stopManager();
      // a removed raft member never comes back with its old raft id: drop its raft state
      rmSync(join(this.opts.config.dataDir, 'manager'), { recursive: true, force: true });
      id.role = 'worker';
      delete id.raftId;
      id.addrs.managers = others.length ? others : id.addrs.managers;
      writeIdentity(this.opts.config.dataDir, id);
      this.awaitWorkerRecord = recorded !== 'worker';
      this.log.info('now a worker', { nodeId: id.nodeId });
    } catch (err) {
      this.fail(`switching to worker failed: ${errorMessage(err)}`, 1);
    } finally {
      this.switching = false;
    }
  }

  /** On workers: when the managers make this node a manager, join raft and start a manager. */
  private async watchRole(): Promise<void> {
    if (this.stopping || this.switching || this.isManager) return;
    const renew = this.renewal();
    if (!renew) return;
    const id = this.opts.identity;
    const role = await currentRole(this.managerAddrs(), id.nodeId, renew, this.log);
    if (role === 'worker') this.awaitWorkerRecord = false;
    if (role !== 'manager' || this.awaitWorkerRecord || this.stopping || this.switching || this.isManager) return;
    this.switching = true;
    try {
      this.log.info('promoted: joining raft', { nodeId: id.nodeId });
      const res = await raftJoin(this.managerAddrs(), id.nodeId, id.addrs.advertise, this.log);
      const peers = res.members.map((p) => ({ raftId: p.raftId, nodeId: p.nodeId, addr: p.addr, learner: p.learner }));
      writeFileAtomic(join(this.opts.config.dataDir, PEERS_FILE), JSON.stringify(peers, null, 2) + '\n');
      id.role = 'manager';
      id.raftId = res.raftId;
      writeIdentity(this.opts.config.dataDir, id);
      await this.startManager('join', peers, joinConfStateOf(res.bootstrap));
      this.log.info('now a manager', { nodeId: id.nodeId, raftId: res.raftId });
    } catch (err) {
      this.log.error('promotion failed; staying a worker', { err: errorMessage(err) });
      await this.stopManager().catch(() => {});
      id.role = 'worker';
      delete id.raftId;
      writeIdentity(this.opts.config.dataDir, id);
    } finally {
      this.switching = false;
    }
  }

  private refreshManagers(): void {
    const session = this.agent?.session;
    if (!session || !this.manager) return;
    if (!this.opts.joinToken) {
      // the first manager joined with no token: keep the manager token for its own renewals
      const token = this.manager.managerToken();
      if (token) {
        this.opts.joinToken = token;
        writeFileAtomic(join(this.opts.config.dataDir, TOKEN_FILE), token + '\n');
      }
    }
    const members = this.manager.memberAddrs();
    const missing = members.filter((a) => !session.managers.includes(a));
    if (missing.length) session.managers = [...session.managers, ...missing];
    const id = this.opts.identity;
    const want = [...new Set([...members.filter((a) => a !== id.addrs.advertise)])];
    // node.json keeps the other managers' addresses for the next start (only when raft knows them)
    if (want.length && want.sort().join(',') !== id.addrs.managers.filter((a) => a !== id.addrs.advertise).sort().join(',')) {
      id.addrs.managers = want;
      try {
        writeIdentity(this.opts.config.dataDir, id);
      } catch (err) {
        this.log.warn('updating node.json failed', { err: errorMessage(err) });
      }
    }
  }

  private healthDetails(): Record<string, string> {
    const m = this.agent?.metrics();
    return { nodeId: this.opts.identity.nodeId, role: this.opts.identity.role, session: m?.sessionState ?? 'idle' };
  }

  private nodeDescription(): NodeDescription {
    const c = this.opts.config;
    return {
      hostname: c.hostname,
      platform: { os: platform(), architecture: arch() === 'x64' ? 'amd64' : arch() },
      resources: { nanoCpus: cpus().length * 1e9, memoryBytes: totalmem(), pids: 0 },
      engineVersion: c.runtime === 'hollow' ? 'hollow' : 'containerd-cri',
      engineLabels: { ...c.labels },
    };
  }

  /**
   * The agent keeps its identity in its own db and would register again (a new node id) without
   * one; give it the node's identity so that manager and agent are the same node.
   */
  private async seedAgentIdentity(): Promise<void> {
    const id = this.opts.identity;
    const db = new TaskDb(join(this.opts.config.dataDir, 'agent'));
    await db.open();
    try {
      const cur = await db.getIdentity();
      if (cur?.nodeId === id.nodeId && cur.clusterId === id.clusterId && cur.role === roleOf(id)) return;
      await db.putIdentity({ nodeId: id.nodeId, clusterId: id.clusterId, role: roleOf(id) });
    } finally {
      await db.close();
    }
  }

  private onSessionState(state: string): void {
    if (state === 'connected') {
      this.failedSessions = 0;
      return;
    }
    if (state !== 'backoff' || this.stopping) return;
    this.failedSessions++;
    if (this.failedSessions < MEMBERSHIP_CHECK_AFTER || this.checking) return;
    this.checking = true;
    const others = this.managerAddrs().filter((a) => a !== this.opts.identity.addrs.advertise || !this.isManager);
    if (others.length === 0) {
      this.checking = false;
      return;
    }
    checkMembership(others, this.opts.identity.nodeId, this.log, 3_000, this.renewal())
      .then((m) => {
        if (m.state === 'removed') this.fail(new RemovedError(this.opts.identity.nodeId, m.message).message, EXIT_REMOVED);
      })
      .catch(() => {})
      .finally(() => {
        this.checking = false;
        this.failedSessions = 0;
      });
  }

  private renewal(): { token: string; hostname: string; advertiseAddr: string } | undefined {
    const token = this.opts.joinToken;
    return token ? { token, hostname: this.opts.config.hostname, advertiseAddr: this.opts.identity.addrs.advertise } : undefined;
  }

  private fail(message: string, exitCode: number): void {
    if (this.stopping) return;
    this.log.error(message);
    this.emit('fatal', { message, exitCode });
  }
}

export type JoinConfState = { voters: number[]; learners: number[] };

/** the bootstrap configuration of a Raft.Join answer, when it has one */
export function joinConfStateOf(cs: { voters: number[]; learners: number[] } | undefined): JoinConfState | undefined {
  return cs && cs.voters.length > 0 ? { voters: cs.voters.map(Number), learners: cs.learners.map(Number) } : undefined;
}

function roleOf(id: NodeIdentityFile): NodeRole {
  return id.role === 'manager' ? NodeRole.MANAGER : NodeRole.WORKER;
}

export class RemovedError extends Error {
  readonly exitCode = EXIT_REMOVED;
  constructor(nodeId: string, reason: string) {
    super(`node ${nodeId} was removed from the cluster and cannot rejoin with its old identity (${reason}); delete its data dir and join again with a token`);
    this.name = 'RemovedError';
  }
}
