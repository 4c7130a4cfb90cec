// The agent's session with the managers: registration (NodeCA), then one Dispatcher.Session stream,
// heartbeats at the period the dispatcher asks for, and the Assignments stream. On failure it
// reconnects with exponential backoff and jitter, failing over along the manager list the session sent.
import {
  createClient,
  DispatcherClient,
  durationMs,
  NodeCAClient,
  NodeRole,
  ShoalError,
  type AssignmentsMessage,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type IssueNodeCertificateRequest,
  type IssueNodeCertificateResponse,
  type NodeDescription,
  type SessionMessage,
  type TaskStatusUpdate,
} from '@shoal/api';
import { AssignmentGapError, AssignmentTracker, type AssignmentDelta } from './assignments.js';
import { backoffMs, sleep, type Clock } from './clock.js';
import { errorMessage, type Logger } from './log.js';
import { cancelCall, firstMessage, unary } from './rpc.js';
import type { NodeIdentity, TaskDb } from './taskdb.js';

export type SessionState = 'idle' | 'registering' | 'connecting' | 'connected' | 'backoff' | 'stopped';

export const DEFAULT_HEARTBEAT_MS = 5_000;

export interface SessionInfo {
  sessionId: string;
  addr: string;
  nodeId: string;
}

export interface SessionOptions {
  managers: string[];
  joinToken: string;
  hostname: string;
  description: NodeDescription;
  dataPathAddr?: string;
  db: TaskDb;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** Reconnect backoff (defaults 100 ms doubling up to 10 s or the heartbeat period if shorter, with jitter). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Deadline of unary calls and of the session's first message (default 10 s). */
  rpcTimeoutMs?: number;
  onAssignments: (delta: AssignmentDelta) => Promise<void> | void;
  onRegistered?: (id: NodeIdentity) => void;
  onUp?: (info: SessionInfo) => void;
  onDown?: (info: { addr: string; reason: string }) => void;
  onHeartbeat?: (info: { addr: string; periodMs: number }) => void;
  onState?: (state: SessionState) => void;
}

/** Why a session attempt ended, and where to go next. */
interface Outcome {
  established: boolean;
  /** Try another manager next. */
  failover: boolean;
  /** Reconnect without backoff (an established session's id went stale: the manager is fine). */
  immediate: boolean;
  reason: string;
}

/** Errors with which a dispatcher says "this session id is not (any longer) valid". */
function isStaleSession(err: unknown): boolean {
  return err instanceof ShoalError && (err.code === 'NotFound' || err.code === 'FailedPrecondition' || err.code === 'InvalidArgument');
}

export class Session {
  identity: NodeIdentity | undefined;
  managers: string[];
  sessionId = '';
  addr: string | undefined;
  state: SessionState = 'idle';
  readonly tracker = new AssignmentTracker();
  heartbeats = 0;
  heartbeatFailures = 0;
  sessions = 0;
  gaps = 0;
  heartbeatPeriodMs = DEFAULT_HEARTBEAT_MS;
  private client: DispatcherClient | undefined;
  private stopped = false;
  private readonly stopCtl = new AbortController();
  private loopDone: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly opts: SessionOptions) {
    if (opts.managers.length === 0) throw new ShoalError('InvalidArgument', 'at least one manager address is needed', { field: 'managers' });
    this.managers = [...opts.managers];
    this.log = opts.logger.child({ component: 'session' });
  }

  get nodeId(): string {
    return this.identity?.nodeId ?? '';
  }

  /** Loads the persisted identity and manager list, then starts connecting in the background. */
  async start(): Promise<void> {
    this.identity = await this.opts.db.getIdentity();
    const saved = await this.opts.db.getManagers();
    if (saved) this.managers = [...new Set([...this.opts.managers, ...saved])];
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopCtl.abort();
    await this.loopDone;
    this.setState('stopped');
  }

  /** Sends one batch of task status updates on the current session. */
  async updateTaskStatus(updates: TaskStatusUpdate[]): Promise<void> {
    const client = this.client;
    if (!client || !this.sessionId) throw new ShoalError('Unavailable', 'no dispatcher session');
    await unary(
      (r, m, o, cb) => client.updateTaskStatus(r, m, o, cb),
      { sessionId: this.sessionId, nodeId: this.nodeId, updates },
      this.opts.rpcTimeoutMs ?? 10_000,
    );
  }

  private setState(s: SessionState): void {
    if (this.state === s) return;
    this.state = s;
    this.opts.onState?.(s);
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    let addr = this.managers[0]!;
    while (!this.stopped) {
      let outcome: Outcome;
      try {
        if (!this.identity) await this.register(addr);
        outcome = await this.runSession(addr);
      } catch (err) {
        outcome = { established: false, failover: !isStaleSession(err), immediate: false, reason: errorMessage(err) };
      }
      if (this.stopped) break;
      if (outcome.established) attempt = 0;
      const from = addr;
      if (outcome.failover) addr = this.nextManager(addr);
      // never wait longer than a heartbeat period: the managers give a node a few periods to come back
      const maxMs = Math.min(this.opts.backoffMaxMs ?? 10_000, this.heartbeatPeriodMs);
      const delay = outcome.immediate ? 0 : backoffMs(attempt++, this.opts.backoffBaseMs ?? 100, maxMs, this.opts.random);
      this.log.warn('session ended; reconnecting', { addr: from, next: addr, reason: outcome.reason, delayMs: delay });
      this.setState('backoff');
      await sleep(this.opts.clock, delay, this.stopCtl.signal);
    }
  }

  private nextManager(current: string): string {
    const list = this.managers;
    const i = list.indexOf(current);
    return list[(i + 1) % list.length] ?? current;
  }

  private async register(addr: string): Promise<void> {
    this.setState('registering');
    const ca = createClient(NodeCAClient, addr);
    try {
      const res = await unary<IssueNodeCertificateRequest, IssueNodeCertificateResponse>(
        (r, m, o, cb) => ca.issueNodeCertificate(r, m, o, cb),
        { csr: Buffer.alloc(0), token: this.opts.joinToken, nodeId: '', hostname: this.opts.hostname, addr: '' },
        this.opts.rpcTimeoutMs ?? 10_000,
      );
      if (!res.nodeId) throw new ShoalError('Internal', `${addr}: NodeCA returned no node id`);
      const id: NodeIdentity = { nodeId: res.nodeId, role: res.role ?? NodeRole.WORKER, clusterId: res.clusterId };
      if (res.certificate.length) id.certificate = res.certificate.toString('utf8');
      if (res.caCert.length) id.caCert = res.caCert.toString('utf8');
      await this.opts.db.putIdentity(id);
      this.identity = id;
      this.log.info('registered', { addr, nodeId: id.nodeId, role: NodeRole[id.role], clusterId: id.clusterId });
      this.opts.onRegistered?.(id);
    } catch (err) {
      this.log.error('registration failed', { addr, err: errorMessage(err) });
      throw err;
    } finally {
      ca.close();
    }
  }

  private updateManagers(msg: SessionMessage, current: string): void {
    const addrs = [...msg.managers].sort((a, b) => b.weight - a.weight).map((p) => p.addr).filter(Boolean);
    if (addrs.length === 0) return;
    if (!addrs.includes(current)) addrs.unshift(current);
    if (addrs.join(',') === this.managers.join(',')) return;
    this.managers = addrs;
    this.log.info('manager list', { managers: addrs });
    void this.opts.db.putManagers(addrs).catch((err: unknown) => this.log.warn('persisting manager list failed', { err: errorMessage(err) }));
  }

  private async runSession(addr: string): Promise<Outcome> {
    this.setState('connecting');
    const timeout = this.opts.rpcTimeoutMs ?? 10_000;
    const client = createClient(DispatcherClient, addr);
    const ctl = new AbortController();
    const call = client.session({
      nodeId: this.nodeId,
      description: this.opts.description,
      sessionId: this.sessionId,
      dataPathAddr: this.opts.dataPathAddr ?? '',
    });
    let established = false;
    try {
      const first = await firstMessage(call, timeout, `session with ${addr}`);
      if (!first.sessionId) throw new ShoalError('Internal', `${addr}: session without an id`);
      if (this.sessionId && this.sessionId !== first.sessionId) this.log.info('new session id', { old: this.sessionId, new: first.sessionId });
      this.sessionId = first.sessionId;
      this.updateManagers(first, addr);
      this.client = client;
      this.addr = addr;
      this.sessions++;
      established = true;
      this.setState('connected');
      this.log.info('session established', { addr, sessionId: this.sessionId, managers: this.managers });
      this.opts.onUp?.({ sessionId: this.sessionId, addr, nodeId: this.nodeId });
      const stop = this.stopCtl.signal;
      await new Promise<void>((resolve, reject) => {
        const onStop = (): void => resolve();
        stop.addEventListener('abort', onStop, { once: true });
        ctl.signal.addEventListener('abort', () => stop.removeEventListener('abort', onStop), { once: true });
        call.on('data', (m: SessionMessage) => this.updateManagers(m, addr));
        call.on('error', (e: unknown) => reject(ShoalError.fromGrpc(e)));
        call.on('end', () => reject(new ShoalError('Unavailable', 'session stream ended')));
        call.resume();
        this.heartbeatLoop(client, addr, ctl.signal).catch(reject);
        this.assignmentsLoop(client, ctl.signal).catch(reject);
      });
      return { established, failover: false, immediate: true, reason: 'stopped' };
    } catch (err) {
      const stale = isStaleSession(err);
      if (stale) this.sessionId = '';
      // A session that was up and went stale reconnects at once (the manager is fine, it only
      // forgot us); a session refused when opening (NotFound: the node is not known there) backs
      // off like any failure, or the agent would hammer the manager in a tight loop.
      return { established, failover: !stale, immediate: stale && established, reason: errorMessage(err) };
    } finally {
      ctl.abort();
      cancelCall(call);
      this.client = undefined;
      client.close();
      if (established) this.opts.onDown?.({ addr, reason: 'session closed' });
    }
  }

  /**
   * Heartbeats at the period the dispatcher asks for. A failed heartbeat is retried while the last
   * accepted one is less than two periods old (the dispatcher waits three before it declares the
   * node down): one heartbeat slowed past its deadline by a busy manager must not end a session
   * and resend every assignment and status. A stale session ends it at once; a manager that is
   * gone breaks the session stream, which ends it too.
   */
  private async heartbeatLoop(client: DispatcherClient, addr: string, signal: AbortSignal): Promise<void> {
    let lastOk = this.opts.clock.now();
    while (!signal.aborted) {
      try {
        const res = await unary<HeartbeatRequest, HeartbeatResponse>((r, m, o, cb) => client.heartbeat(r, m, o, cb), { sessionId: this.sessionId, nodeId: this.nodeId }, Math.min(this.heartbeatPeriodMs, this.opts.rpcTimeoutMs ?? 10_000));
        this.heartbeatPeriodMs = durationMs(res.period, DEFAULT_HEARTBEAT_MS) || DEFAULT_HEARTBEAT_MS;
        this.heartbeats++;
        lastOk = this.opts.clock.now();
        this.opts.onHeartbeat?.({ addr, periodMs: this.heartbeatPeriodMs });
      } catch (err) {
        if (signal.aborted) return;
        this.heartbeatFailures++;
        if (isStaleSession(err) || this.opts.clock.now() - lastOk >= 2 * this.heartbeatPeriodMs) throw err;
        this.log.warn('heartbeat failed; retrying', { addr, err: errorMessage(err) });
        await sleep(this.opts.clock, Math.min(250, this.heartbeatPeriodMs / 4), signal);
        continue;
      }
      await sleep(this.opts.clock, this.heartbeatPeriodMs, signal);
    }
  }

  private async assignmentsLoop(client: DispatcherClient, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.tracker.reset();
      const stream = client.assignments({ sessionId: this.sessionId, nodeId: this.nodeId });
      const onAbort = (): void => cancelCall(stream);
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const msg of stream as AsyncIterable<AssignmentsMessage>) {
          const delta = this.tracker.apply(msg);
          await this.opts.onAssignments(delta);
        }
        if (signal.aborted) return;
        throw new ShoalError('Unavailable', 'assignments stream ended');
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof AssignmentGapError) {
          this.gaps++;
          this.log.warn('assignments gap; reopening the stream for a complete set', { err: err.message });
          cancelCall(stream);
          continue;
        }
        throw ShoalError.fromGrpc(err);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    }
  }
}
