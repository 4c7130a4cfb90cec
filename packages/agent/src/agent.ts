// The Agent: wires the task db, the reconciler, the dispatcher session, the status reporter and
// the log publisher. The daemon creates one per node:
//   const agent = new Agent({ dataDir, managers, joinToken, runtime, hostname, nodeDescription });
//   await agent.start(); … await agent.stop();   // containers keep running across stop/start
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskState, type NodeDescription, type TaskStatus } from '@shoal/api';
import type { Runtime } from '@shoal/runtime';
import { realClock, type Clock } from './clock.js';
import type { TaskController } from './controller.js';
import { TaskFiles } from './files.js';
import { jsonLogger, type Logger } from './log.js';
import { LogPublisher } from './logs.js';
import { Reconciler } from './reconciler.js';
import { StatusReporter } from './reporter.js';
import { Session, type SessionState } from './session.js';
import { TaskDb, type NodeIdentity } from './taskdb.js';

export interface AgentOptions {
  /**
   * Directory for the agent's local db (created if missing); `undefined` keeps it in memory, for
   * simulated nodes that need not survive a restart (a hollow node farm).
   */
  dataDir: string | undefined;
  /** Dispatcher addresses ("host:port") to start from; the session then sends the current list. */
  managers: string[];
  joinToken: string;
  runtime: Runtime;
  hostname: string;
  nodeDescription?: NodeDescription;
  /** Address the node's data plane (VXLAN) is reached at. */
  dataPathAddr?: string;
  clock?: Clock;
  logger?: Logger;
  random?: () => number;
  /** Concurrent pulls/prepares/starts (default 8). */
  maxConcurrent?: number;
  /** Inspect interval of running containers (default 1000 ms). */
  pollIntervalMs?: number;
  /** How soon after a task reports RUNNING its container is checked again (default 200 ms; 0: off). */
  startCheckMs?: number;
  /** Status update coalescing window (default 50 ms). */
  statusBatchMs?: number;
  /** Reconnect backoff base/max (defaults 100 ms / 10 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Deadline of unary RPCs (default 10 s). */
  rpcTimeoutMs?: number;
}

export interface AgentMetrics {
  nodeId: string;
  sessionState: SessionState;
  manager: string | undefined;
  sessionId: string;
  sessions: number;
  heartbeats: number;
  heartbeatFailures: number;
  heartbeatPeriodMs: number;
  assignmentGaps: number;
  statusBatches: number;
  statusUpdates: number;
  statusPending: number;
  tasksByState: Record<string, number>;
}

export interface AgentEvents {
  registered: [NodeIdentity];
  session: [{ state: SessionState; addr: string | undefined }];
  heartbeat: [{ addr: string; periodMs: number }];
  task: [{ taskId: string; status: TaskStatus }];
}

export class Agent extends EventEmitter<AgentEvents> {
  readonly db: TaskDb;
  readonly reconciler: Reconciler;
  readonly session: Session;
  readonly reporter: StatusReporter;
  readonly logs: LogPublisher;
  /** Secret and config files of the tasks, mounted read-only into their containers. */
  readonly files: TaskFiles;
  private readonly log: Logger;
  private started = false;

  constructor(readonly opts: AgentOptions) {
    super();
    const clock = opts.clock ?? realClock;
    const logger = opts.logger ?? jsonLogger({ component: 'agent', hostname: opts.hostname });
    this.log = logger.child({ component: 'agent' });
    this.db = new TaskDb(opts.dataDir);
    this.files = new TaskFiles({
      // 0700 under the data dir; a node without one (a hollow farm) uses a private temp dir
      dir: opts.dataDir !== undefined ? join(opts.dataDir, 'task-files') : join(tmpdir(), `shoal-task-files-${process.pid}-${randomUUID()}`),
      secret: (id) => this.session.tracker.secrets.get(id),
      config: (id) => this.session.tracker.configs.get(id),
      logger,
    });
    this.reporter = new StatusReporter({
      clock,
      logger: logger.child({ component: 'reporter' }),
      windowMs: opts.statusBatchMs ?? 50,
      send: (updates) => this.session.updateTaskStatus(updates),
    });
    this.reconciler = new Reconciler({
      runtime: opts.runtime,
      clock,
      db: this.db,
      logger,
      nodeId: () => this.session.nodeId,
      onStatus: (taskId, status) => {
        this.reporter.report(taskId, status);
        this.emit('task', { taskId, status });
      },
      ...(opts.maxConcurrent !== undefined ? { maxConcurrent: opts.maxConcurrent } : {}),
      ...(opts.pollIntervalMs !== undefined ? { pollIntervalMs: opts.pollIntervalMs } : {}),
      ...(opts.startCheckMs !== undefined ? { startCheckMs: opts.startCheckMs } : {}),
      ...(opts.random ? { random: opts.random } : {}),
      files: this.files,
    });
    this.logs = new LogPublisher({
      runtime: opts.runtime,
      logger,
      nodeId: () => this.session.nodeId,
      tasks: () => this.reconciler.controllers.map((c) => ({ taskId: c.id, serviceId: c.task.serviceId, handle: c.handle })),
    });
    this.session = new Session({
      managers: opts.managers,
      joinToken: opts.joinToken,
      hostname: opts.hostname,
      description: opts.nodeDescription ?? { hostname: opts.hostname, engineVersion: '', engineLabels: {} },
      ...(opts.dataPathAddr ? { dataPathAddr: opts.dataPathAddr } : {}),
      db: this.db,
      clock,
      logger,
      ...(opts.random ? { random: opts.random } : {}),
      ...(opts.backoffBaseMs !== undefined ? { backoffBaseMs: opts.backoffBaseMs } : {}),
      ...(opts.backoffMaxMs !== undefined ? { backoffMaxMs: opts.backoffMaxMs } : {}),
      ...(opts.rpcTimeoutMs !== undefined ? { rpcTimeoutMs: opts.rpcTimeoutMs } : {}),
      onAssignments: (delta) => this.reconciler.apply(delta),
      onRegistered: (id) => this.emit('registered', id),
      onUp: (info) => {
        // The new manager may not have seen our last reports: send every task's current status.
        for (const c of this.reconciler.controllers) this.reporter.report(c.id, { ...c.status });
        this.reporter.kick();
        this.logs.start(info.addr);
      },
      onDown: () => this.logs.stop(),
      onHeartbeat: (hb) => this.emit('heartbeat', hb),
      onState: (state) => this.emit('session', { state, addr: this.session.addr }),
    });
  }

  get nodeId(): string {
    return this.session.nodeId;
  }

  /** Opens the db, re-adopts containers of the tasks it knows, then connects to the managers. */
  async start(): Promise<void> {
    if (this.started) throw new Error('agent already started');
    this.started = true;
    await this.db.open();
    this.session.identity = await this.db.getIdentity();
    await this.reconciler.restore();
    await this.session.start();
    this.log.info('agent started', { nodeId: this.nodeId || undefined, tasks: this.reconciler.controllers.length });
  }

  /** Disconnects and stops the control loops. Containers keep running; a restart re-adopts them. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.reporter.flush().catch(() => {});
    await this.session.stop();
    this.logs.stop();
    this.reporter.close();
    await this.reconciler.close();
    await this.db.close();
    this.log.info('agent stopped');
  }

  tasks(): TaskController[] {
    return this.reconciler.controllers;
  }

  taskState(taskId: string): TaskState | undefined {
    return this.reconciler.controller(taskId)?.state;
  }

  metrics(): AgentMetrics {
    const s = this.session;
    return {
      nodeId: s.nodeId,
      sessionState: s.state,
      manager: s.addr,
      sessionId: s.sessionId,
      sessions: s.sessions,
      heartbeats: s.heartbeats,
      heartbeatFailures: s.heartbeatFailures,
      heartbeatPeriodMs: s.heartbeatPeriodMs,
      assignmentGaps: s.gaps,
      statusBatches: this.reporter.sentBatches,
      statusUpdates: this.reporter.sentUpdates,
      statusPending: this.reporter.pendingCount,
      tasksByState: this.reconciler.tasksByState(),
    };
  }
}
