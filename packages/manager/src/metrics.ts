// Manager metrics (prom-client), named shoal_<component>_<what>_<unit>. One registry per
// Manager so that several in-process managers (tests) do not collide; the daemon exposes it on
// /metrics.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TaskState } from '@shoal/api';

export class ManagerMetrics {
  readonly registry: Registry;
  readonly raftTerm: Gauge;
  readonly raftLeader: Gauge;
  readonly raftCommitLatency: Histogram;
  readonly tasks: Gauge<'state'>;
  readonly schedulerLatency: Histogram;
  readonly dispatcherSessions: Gauge;
  readonly dispatcherHeartbeats: Counter;
  readonly dispatcherStatusBatches: Counter;
  /** UpdateTaskStatus calls and the task updates they carried (messages per task at scale) */
  readonly dispatcherStatusRequests: Counter;
  readonly dispatcherStatusUpdates: Counter;
  /** incremental Assignments messages sent to agents, and the task/secret/config changes they carried */
  readonly dispatcherAssignmentMessages: Counter;
  readonly dispatcherAssignmentChanges: Counter;
  /** store entries this manager proposed to raft, and their bytes */
  readonly storeEntriesProposed: Counter;
  readonly storeEntryBytesProposed: Counter;
  readonly controlRequests: Counter<'method' | 'code'>;
  /** event-loop delay since the previous scrape: a stall longer than the election timeout costs leadership */
  readonly eventLoopDelayMax: Gauge;
  readonly eventLoopDelayP99: Gauge;
  readonly heapUsed: Gauge;
  private readonly loopDelay: IntervalHistogram;

  constructor(registry = new Registry()) {
    this.registry = registry;
    const r = [registry];
    const counter = (name: string, help: string): Counter => new Counter({ name, help, registers: r });
    this.raftTerm = new Gauge({ name: 'shoal_raft_term', help: 'Current raft term of this manager', registers: r });
    this.raftLeader = new Gauge({ name: 'shoal_raft_leader', help: '1 when this manager is the raft leader, else 0', registers: r });
    this.raftCommitLatency = new Histogram({
      name: 'shoal_raft_commit_latency_seconds',
      help: 'Time from proposing a store transaction to its being applied',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: r,
    });
    this.tasks = new Gauge({ name: 'shoal_tasks', help: 'Tasks in the store by observed state', labelNames: ['state'], registers: r });
    this.schedulerLatency = new Histogram({
      name: 'shoal_scheduler_latency_seconds',
      help: 'Time of one scheduling pass (decision and commit)',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.dispatcherSessions = new Gauge({ name: 'shoal_dispatcher_sessions', help: 'Open agent sessions on this dispatcher', registers: r });
    this.dispatcherHeartbeats = counter('shoal_dispatcher_heartbeats_total', 'Heartbeats received from agents');
    this.dispatcherStatusBatches = counter('shoal_dispatcher_status_batches_total', 'Store transactions written for task status updates');
    this.dispatcherStatusRequests = counter('shoal_dispatcher_status_requests_total', 'UpdateTaskStatus calls received from agents');
    this.dispatcherStatusUpdates = counter('shoal_dispatcher_status_updates_total', 'Task status updates received from agents (items of UpdateTaskStatus calls)');
    this.dispatcherAssignmentMessages = counter('shoal_dispatcher_assignment_messages_total', 'Incremental Assignments messages sent to agents');
    this.dispatcherAssignmentChanges = counter('shoal_dispatcher_assignment_changes_total', 'Changes carried by incremental Assignments messages');
    this.storeEntriesProposed = counter('shoal_store_proposed_entries_total', 'Store transactions this manager proposed to raft');
    this.storeEntryBytesProposed = counter('shoal_store_proposed_bytes_total', 'Bytes of the store transactions this manager proposed to raft');
    this.controlRequests = new Counter({
      name: 'shoal_control_requests_total',
      help: 'Control API requests by method and result code',
      labelNames: ['method', 'code'],
      registers: r,
    });
    this.loopDelay = monitorEventLoopDelay({ resolution: 20 });
    this.loopDelay.enable();
    // max and p99 are read together on a scrape, then the histogram restarts: the longest stall
    // between two scrapes, not since start
    let p99 = 0;
    this.eventLoopDelayMax = new Gauge({
      name: 'shoal_event_loop_delay_max_seconds',
      help: 'Longest event-loop delay since the previous scrape',
      registers: r,
      collect: () => {
        const h = this.loopDelay;
        this.eventLoopDelayMax.set(h.count > 0 ? h.max / 1e9 : 0);
        p99 = h.count > 0 ? h.percentile(99) / 1e9 : 0;
        h.reset();
      },
    });
    this.eventLoopDelayP99 = new Gauge({
      name: 'shoal_event_loop_delay_p99_seconds',
      help: '99th percentile of the event-loop delay since the previous scrape',
      registers: r,
      collect: () => this.eventLoopDelayP99.set(p99),
    });
    this.heapUsed = new Gauge({
      name: 'shoal_process_heap_used_bytes',
      help: 'V8 heap in use (process.memoryUsage().heapUsed)',
      registers: r,
      collect: () => this.heapUsed.set(process.memoryUsage().heapUsed),
    });
  }

  /** stops sampling the event loop (the manager is stopping) */
  close(): void {
    this.loopDelay.disable();
  }

  /** Set shoal_tasks{state} from a count per state (every known state is reported, zeros too). */
  setTaskCounts(counts: ReadonlyMap<TaskState, number>): void {
    for (const [name, value] of Object.entries(TaskState)) {
      if (typeof value !== 'number' || value < 0) continue;
      this.tasks.set({ state: name.toLowerCase() }, counts.get(value) ?? 0);
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
