// startCluster: a real Shoal cluster of separate shoald processes on loopback ports with temp
// data dirs, for integration tests and benchmarks.
//
//   const cluster = await startCluster({ managers: 3, workers: 3, runtime: 'hollow' });
//   await cluster.api.createService({ spec });            // any live manager (fails over)
//   await cluster.kill(await cluster.leader(), 'SIGKILL');
//   await cluster.restart(node);
//   await cluster.stop();                                 // always: kills every child
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeRole, NodeState, RaftClient, ShoalError, createClient, grpc, type JoinTokens, type Node, type RaftMembersResponse } from '@shoal/api';
import { controlClient, type ControlApi } from './client.js';
import { NodeProcess, type NodeRoleName } from './process.js';
import { fetchText, parseMetrics, type Sample } from './metrics.js';
import { freePorts } from './ports.js';
import { observed, waitFor } from './wait.js';

export interface ClusterOptions {
  managers?: number;
  workers?: number;
  runtime?: 'hollow' | 'cri';
  /** first port; node k (0-based) listens on basePort+2k and serves /metrics on basePort+2k+1. Default: free ports. */
  basePort?: number;
  /** agent heartbeat period (default 500ms, so that a dead worker is noticed within ~1.5 s) */
  heartbeatPeriod?: string;
  /** extra flags for every node (init/join) */
  flags?: string[];
  /** extra flags per node name ("m1", "w2", …), e.g. labels */
  nodeFlags?: Record<string, string[]>;
  /** containerd socket for runtime 'cri' */
  containerdSocket?: string;
  /** deadline for the whole bring-up (default 120 s) */
  startTimeoutMs?: number;
  /** keep the temp dir after stop() (also with SHOAL_KEEP_TMP=1) */
  keepDir?: boolean;
}

const DEFAULT_CALL_MS = 10_000;

export class Cluster {
  readonly nodes: NodeProcess[] = [];
  private nextPort: number | undefined;
  private readonly clients = new Map<string, ControlApi>();
  private tokens: JoinTokens | undefined;
  private stopped = false;
  /** a Control API that tries the live managers in turn (fails over on Unavailable) */
  readonly api: ControlApi;

  constructor(
    readonly dir: string,
    readonly opts: Required<Pick<ClusterOptions, 'runtime' | 'heartbeatPeriod' | 'startTimeoutMs'>> & ClusterOptions,
  ) {
    if (opts.basePort !== undefined) this.nextPort = opts.basePort;
    this.api = this.failoverApi();
  }

  managers(): NodeProcess[] {
    return this.nodes.filter((n) => n.role === 'manager');
  }

  workers(): NodeProcess[] {
    return this.nodes.filter((n) => n.role === 'worker');
  }

  node(name: string): NodeProcess {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node named ${name} (have ${this.nodes.map((x) => x.name).join(', ')})`);
    return n;
  }

  byId(nodeId: string): NodeProcess | undefined {
    return this.nodes.find((n) => n.nodeId() === nodeId);
  }

  /** A Control API client bound to one manager (its TCP address). */
  control(node: NodeProcess): ControlApi {
    let c = this.clients.get(node.listenAddr);
    if (!c) {
      c = controlClient(node.listenAddr);
      this.clients.set(node.listenAddr, c);
    }
    return c;
  }

  /** A Control API client over a manager's local control socket (what the CLI uses). */
  controlSocket(node: NodeProcess): ControlApi {
    return controlClient(`unix:${node.controlSocket}`);
  }

  private async allocAddrs(): Promise<{ listen: string; metrics: string }> {
    if (this.nextPort !== undefined) {
      const p = this.nextPort;
      this.nextPort += 2;
      return { listen: `127.0.0.1:${p}`, metrics: `127.0.0.1:${p + 1}` };
    }
    const [a, b] = await freePorts(2);
    return { listen: `127.0.0.1:${a}`, metrics: `127.0.0.1:${b}` };
  }

  private commonFlags(name: string): string[] {
    const o = this.opts;
    const f = ['--runtime', o.runtime, '--heartbeat-period', o.heartbeatPeriod, ...(o.flags ?? []), ...(o.nodeFlags?.[name] ?? [])];
    if (o.runtime === 'cri' && o.containerdSocket) f.push('--containerd-socket', o.containerdSocket);
    return f;
  }

  private async newNode(role: NodeRoleName, name?: string): Promise<NodeProcess> {
    const prefix = role === 'manager' ? 'm' : 'w';
    let i = this.nodes.filter((n) => n.name.startsWith(prefix)).length + 1;
    while (this.nodes.some((n) => n.name === `${prefix}${i}`)) i++;
    const nodeName = name ?? `${prefix}${i}`;
    const addrs = await this.allocAddrs();
    const node = new NodeProcess({
      name: nodeName,
      role,
      dataDir: join(this.dir, nodeName),
      listenAddr: addrs.listen,
      metricsAddr: addrs.metrics,
      flags: this.commonFlags(nodeName),
    });
    this.nodes.push(node);
    return node;
  }

  /** Start the first manager (`shoald init`) and wait until its Control API hands out join tokens. */
  async init(): Promise<NodeProcess> {
    const m = await this.newNode('manager');
    m.init();
    this.tokens = await this.waitFor(
      `${m.name}: the new cluster answers GetJoinTokens`,
      async () => {
        this.assertRunning(m);
        const res = await this.control(m).getJoinTokens({}, { timeoutMs: 3_000 });
        return observed(Boolean(res.tokens?.worker && res.tokens.manager), res, res.tokens);
      },
      this.opts.startTimeoutMs,
    );
    return m;
  }

  async joinTokens(): Promise<JoinTokens> {
    if (!this.tokens) {
      const res = await this.api.getJoinTokens({});
      if (!res.tokens) throw new Error('GetJoinTokens returned no tokens');
      this.tokens = res.tokens;
    }
    return this.tokens;
  }

  /** Addresses of the managers that are running (join targets). */
  liveManagerAddrs(): string[] {
    return this.managers()
      .filter((m) => m.running)
      .map((m) => m.listenAddr);
  }

  /** Join a new manager and wait until the cluster lists it as a ready manager. */
  async addManager(name?: string): Promise<NodeProcess> {
    const tokens = await this.joinTokens();
    const m = await this.newNode('manager', name);
    m.join(tokens.manager, this.liveManagerAddrs().slice(0, 3));
    await this.waitNodeReady(m, NodeRole.MANAGER);
    await this.waitVoters();
    return m;
  }

  /**
   * Wait until the raft leader counts every running manager as a voter. A joining manager is a
   * learner until it caught up and the leader promoted it: a test that stops a manager before
   * that counts on a quorum the cluster does not have (two voters, one of them stopped).
   */
  async waitVoters(timeoutMs = this.opts.startTimeoutMs): Promise<void> {
    const want = this.managers().filter((m) => m.running).length;
    await this.waitFor(`${want} raft voters`, async () => {
      const leader = await this.leader(timeoutMs);
      const r = await raftMembers(leader.listenAddr);
      const voters = r.members.filter((m) => !m.learner).length;
      return observed(voters === want, r.members.map((m) => `${m.raftId}${m.learner ? ' (learner)' : ''}`));
    }, timeoutMs);
  }

  /** Join new workers (in parallel) and wait until all are ready. */
  async addWorkers(n: number): Promise<NodeProcess[]> {
    const tokens = await this.joinTokens();
    const out: NodeProcess[] = [];
    for (let i = 0; i < n; i++) out.push(await this.newNode('worker'));
    const targets = this.liveManagerAddrs().slice(0, 3);
    for (const w of out) w.join(tokens.worker, targets);
    await Promise.all(out.map((w) => this.waitNodeReady(w, NodeRole.WORKER)));
    return out;
  }

  async addWorker(): Promise<NodeProcess> {
    const [w] = await this.addWorkers(1);
    return w!;
  }

  /** Wait until `node` has an id and the cluster shows it READY (with the given role). */
  async waitNodeReady(node: NodeProcess, role?: NodeRole, timeoutMs = this.opts.startTimeoutMs): Promise<Node> {
    const n = await this.waitFor(
      `${node.name} is listed READY${role === undefined ? '' : ` as ${NodeRole[role]}`}`,
      async () => {
        this.assertRunning(node);
        const id = node.nodeId();
        if (!id) return observed(false, 'no node.json yet');
        const res = await this.api.getNode({ nodeId: id }, { timeoutMs: 3_000 });
        const got = res.node;
        const ok = got?.status?.state === NodeState.NODE_READY && (role === undefined || got.role === role);
        return observed(ok, got && { state: NodeState[got.status?.state ?? 0], role: NodeRole[got.role], managerStatus: got.managerStatus }, got);
      },
      timeoutMs,
    );
    return n!;
  }

  /** The manager process that is the raft leader right now (from the nodes' manager status). */
  async leader(timeoutMs = 30_000): Promise<NodeProcess> {
    const n = await this.waitFor(
      'a leader among the running managers',
      async () => {
        const res = await this.api.listNodes({ roles: [NodeRole.MANAGER] }, { timeoutMs: 3_000 });
        const leaders = res.nodes.filter((x) => x.managerStatus?.leader);
        const proc = leaders.length === 1 ? this.byId(leaders[0]!.id) : undefined;
        return observed(Boolean(proc?.running), res.nodes.map((x) => ({ id: x.id, leader: x.managerStatus?.leader, addr: x.managerStatus?.addr })), proc);
      },
      timeoutMs,
    );
    return n!;
  }

  async kill(node: NodeProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.clients.get(node.listenAddr)?.close();
    this.clients.delete(node.listenAddr);
    await node.kill(signal);
  }

  /** Freeze a node (SIGSTOP): its sockets stay open but it says nothing — a quiet partition. */
  freeze(node: NodeProcess): void {
    if (!node.pid || !node.running) throw new Error(`${node.name} is not running`);
    process.kill(node.pid, 'SIGSTOP');
  }

  thaw(node: NodeProcess): void {
    if (node.pid && node.running) process.kill(node.pid, 'SIGCONT');
  }

  /** The node's /metrics, parsed. */
  async metrics(node: NodeProcess): Promise<Sample[]> {
    return parseMetrics(await fetchText(`http://${node.metricsAddr}/metrics`));
  }

  /** Start a stopped node again from its data dir (`shoald run`). */
  async restart(node: NodeProcess, opts: { wait?: boolean } = {}): Promise<void> {
    if (node.running) await node.stop();
    node.run();
    if (opts.wait !== false) await this.waitNodeReady(node);
  }

  /** Poll with a deadline; on timeout throws with the description and the last observation. */
  waitFor<T>(description: string, poll: Parameters<typeof waitFor<T>>[1], timeoutMs: number): Promise<T | undefined> {
    return waitFor<T>(description, poll, timeoutMs, { intervalMs: 250 });
  }

  /** The tail of every node's log, for a failing test. */
  failureReport(lines = 40): string {
    return this.nodes.map((n) => n.tailText(lines)).join('\n');
  }

  /** SIGTERM every node (SIGKILL after a grace period), close clients, remove the temp dir. */
  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    for (const n of this.nodes) this.thaw(n);
    await Promise.all(this.nodes.map((n) => n.stop(5_000).catch(() => n.kill('SIGKILL'))));
    for (const n of this.nodes) n.close();
    const keep = opts.keepDir ?? this.opts.keepDir ?? process.env['SHOAL_KEEP_TMP'] === '1';
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }

  private assertRunning(node: NodeProcess): void {
    if (!node.running && node.exitInfo) {
      throw new Error(`${node.name} exited (${JSON.stringify(node.exitInfo)}):\n${node.tailText(15)}`);
    }
  }

  private failoverApi(): ControlApi {
    const cache = new Map<string, unknown>();
    return new Proxy({} as ControlApi, {
      get: (_t, prop: string) => {
        if (prop === 'close') return () => {};
        if (prop === 'addr') return this.liveManagerAddrs()[0] ?? '';
        if (prop === 'then') return undefined;
        let f = cache.get(prop);
        if (!f) {
          f = async (req: unknown, opts: { timeoutMs?: number } = {}) => {
            const managers = this.managers().filter((m) => m.running);
            if (managers.length === 0) throw new ShoalError('Unavailable', 'no running manager');
            let last: unknown;
            for (const m of managers) {
              const client = this.control(m) as unknown as Record<string, (r: unknown, o: unknown) => Promise<unknown>>;
              const fn = client[prop];
              if (typeof fn !== 'function') throw new Error(`Control has no unary method ${prop}`);
              try {
                return await fn(req, { timeoutMs: opts.timeoutMs ?? DEFAULT_CALL_MS });
              } catch (err) {
                last = err;
                if (!(err instanceof ShoalError) || !(err.code === 'Unavailable' || err.code === 'DeadlineExceeded')) throw err;
              }
            }
            throw last;
          };
          cache.set(prop, f);
        }
        return f;
      },
    });
  }
}

/**
 * Start a cluster: `shoald init` on m1, then each further manager joins (one at a time: raft adds
 * one member at a time), then the workers join in parallel; resolves once every node is READY.
 * On failure every process is killed and the error carries the tail of each node's log.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const opts = {
    runtime: options.runtime ?? 'hollow',
    heartbeatPeriod: options.heartbeatPeriod ?? '500ms',
    startTimeoutMs: options.startTimeoutMs ?? 120_000,
    ...options,
  } as const;
  const dir = mkdtempSync(join(tmpdir(), 'shoal-'));
  const cluster = new Cluster(dir, opts);
  try {
    const m1 = await cluster.init();
    await cluster.waitNodeReady(m1, NodeRole.MANAGER);
    for (let i = 1; i < (options.managers ?? 3); i++) await cluster.addManager();
    if ((options.workers ?? 3) > 0) await cluster.addWorkers(options.workers ?? 3);
    return cluster;
  } catch (err) {
    const report = cluster.failureReport(30);
    await cluster.stop({ keepDir: true });
    const e = err instanceof Error ? err : new Error(String(err));
    e.message = `startCluster failed: ${e.message}\n(data dirs kept in ${dir})\n${report}`;
    throw e;
  }
}

/** the raft members as a manager's Raft service lists them (learners flagged) */
async function raftMembers(addr: string): Promise<RaftMembersResponse> {
  const client = createClient(RaftClient, addr);
  try {
    return await new Promise<RaftMembersResponse>((resolve, reject) =>
      client.members({}, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err, r) => (err ? reject(err) : resolve(r))));
  } finally {
    client.close();
  }
}
