// A synchronous, deterministic harness for the updater: virtual time, an "agent" that moves
// tasks through their states after fixed latencies, and per-image behaviours (fail on start,
// exit after a while, never healthy). No timers, no sleeps.
import { HealthState, msDuration, Node, NodeState, Service, Task, TaskState, UpdateState, type UpdateConfig } from '@shoal/api';
import { reconcileService } from '../../src/orchestrator/index.js';
import { deferToRollingUpdater, planUpdate, rollbackService, slotKey, UpdateTracker, type UpdateDecision } from '../../src/updater/index.js';

const NODES = [Node.fromPartial({ id: 'n1', status: { state: NodeState.NODE_READY } })];

export type Behaviour = { kind: 'ok' } | { kind: 'failOnStart' } | { kind: 'exitAfter'; ms: number } | { kind: 'neverHealthy' };

export interface SimOptions {
  replicas: number;
  update?: Partial<UpdateConfig>;
  rollback?: Partial<UpdateConfig>;
  healthcheck?: boolean;
  startLatencyMs?: number;
  stopLatencyMs?: number;
  healthyAfterMs?: number;
}

export class UpdateSim {
  now = 1_000_000;
  service: Service;
  readonly tasks = new Map<string, Task>();
  tracker = new UpdateTracker();
  readonly behaviours = new Map<string, Behaviour>();
  readonly decisions: UpdateDecision[] = [];
  /** creates per slot key since the last spec change */
  readonly createsBySlot = new Map<string, number>();
  private readonly transitions = new Map<string, number>(); // task id -> time of last state change
  private nextId = 1;
  private version = 1;
  readonly o: Required<Omit<SimOptions, 'update' | 'rollback'>>;

  constructor(opts: SimOptions) {
    this.o = { startLatencyMs: 300, stopLatencyMs: 200, healthyAfterMs: 500, healthcheck: false, ...opts };
    this.service = Service.fromPartial({
      id: 'svc1',
      meta: { version: 1 },
      spec: {
        annotations: { name: 'web' },
        task: {
          container: {
            image: 'app:1',
            healthcheck: opts.healthcheck ? { test: ['CMD', 'true'], interval: msDuration(1000), timeout: msDuration(1000), retries: 2 } : undefined,
          },
        },
        mode: { $case: 'replicated', replicated: { replicas: opts.replicas } },
        update: { monitor: msDuration(1000), ...opts.update },
        rollback: { monitor: msDuration(1000), ...opts.rollback },
      },
      specVersion: { index: 1 },
    });
    for (let slot = 1; slot <= opts.replicas; slot++) {
      const t = this.mkTask(slot, TaskState.RUNNING);
      t.status!.state = TaskState.RUNNING;
      if (opts.healthcheck) t.status!.health = HealthState.HEALTHY;
    }
  }

  private mkTask(slot: number, desired: TaskState): Task {
    const id = `t${this.nextId++}`;
    const t = Task.fromPartial({
      id,
      meta: { version: 1, createdAt: new Date(this.now).toISOString() },
      serviceId: this.service.id,
      slot,
      nodeId: 'n1',
      spec: structuredClone(this.service.spec!.task),
      specVersion: { index: this.service.specVersion!.index },
      desiredState: desired,
      status: { state: TaskState.NEW },
    });
    this.tasks.set(id, t);
    this.transitions.set(id, this.now);
    return t;
  }

  behaviour(image: string, b: Behaviour): void {
    this.behaviours.set(image, b);
  }

  /** Change the service's spec, as `shoal service update` does (previous spec kept). */
  updateImage(image: string, update?: Partial<UpdateConfig>): void {
    const s = structuredClone(this.service);
    s.previousSpec = structuredClone(s.spec);
    s.previousSpecVersion = s.specVersion;
    s.spec!.task!.container!.image = image;
    if (update) s.spec!.update = { ...s.spec!.update!, ...update };
    s.specVersion = { index: ++this.version };
    s.updateStatus = undefined;
    this.service = s;
    this.createsBySlot.clear();
  }

  /**
   * `shoal service update NAME` without changes, or `--force`: as the Control API's UpdateService
   * (and SwarmKit's), the spec is written again (previous spec kept) and the update status reset,
   * which resumes a paused update; `force` bumps task.forceUpdate so every task is replaced.
   */
  resubmit(force = false): void {
    const s = structuredClone(this.service);
    s.previousSpec = structuredClone(s.spec);
    s.previousSpecVersion = s.specVersion;
    if (force) {
      s.spec!.task!.forceUpdate += 1;
      s.specVersion = { index: ++this.version };
    }
    s.updateStatus = undefined;
    this.service = s;
    this.createsBySlot.clear();
  }

  /** `shoal service rollback NAME` (the updater's rollbackService, as the failure action uses). */
  manualRollback(): void {
    this.service = rollbackService(this.service, this.now);
    this.createsBySlot.clear();
  }

  /** A leader change: the new leader's updater starts with an empty tracker. */
  leaderChange(): void {
    this.tracker = new UpdateTracker();
  }

  promote(): void {
    this.service = structuredClone(this.service);
    this.service.updateStatus!.state = UpdateState.UPDATING;
    this.service.updateStatus!.message = 'canary promoted';
  }

  private agent(): void {
    for (const t of this.tasks.values()) {
      const since = this.now - (this.transitions.get(t.id) ?? 0);
      const state = t.status!.state;
      const image = t.spec?.container?.image ?? '';
      const b = this.behaviours.get(image) ?? { kind: 'ok' };
      const set = (s: TaskState, msg = ''): void => {
        t.status = { ...t.status!, state: s, message: msg };
        this.transitions.set(t.id, this.now);
      };
      if (t.desiredState > TaskState.RUNNING) {
        if (state <= TaskState.RUNNING && since >= this.o.stopLatencyMs) set(TaskState.SHUTDOWN, 'shutdown');
        continue;
      }
      if (t.desiredState === TaskState.RUNNING && state < TaskState.RUNNING && since >= this.o.startLatencyMs) {
        if (b.kind === 'failOnStart') set(TaskState.FAILED, 'task: non-zero exit (1)');
        else {
          set(TaskState.RUNNING, 'started');
          if (this.o.healthcheck) t.status!.health = HealthState.HEALTH_STARTING;
        }
        continue;
      }
      if (state === TaskState.RUNNING) {
        if (b.kind === 'exitAfter' && since >= b.ms) set(TaskState.FAILED, 'task: non-zero exit (2)');
        else if (this.o.healthcheck && b.kind !== 'neverHealthy' && t.status!.health !== HealthState.HEALTHY && since >= this.o.healthyAfterMs) {
          t.status!.health = HealthState.HEALTHY;
        }
      }
    }
  }

  /** One pass: the agent acts, the orchestrator (restarts) and then the updater decide. */
  step(dtMs = 100): UpdateDecision {
    this.now += dtMs;
    this.agent();
    const o = reconcileService(this.service, [...this.tasks.values()], NODES, {
      now: this.now,
      newId: () => `t${this.nextId++}`,
      updater: deferToRollingUpdater,
      historyLimit: 1000,
    });
    for (const t of o.create) {
      t.nodeId ||= 'n1';
      this.tasks.set(t.id, structuredClone(t));
      this.transitions.set(t.id, this.now);
    }
    for (const u of o.update) this.tasks.set(u.id, structuredClone(u));
    const d = planUpdate(this.service, [...this.tasks.values()], { now: this.now, newId: () => `t${this.nextId++}` }, this.tracker);
    for (const t of d.plan.create) {
      t.nodeId ||= 'n1';
      this.tasks.set(t.id, structuredClone(t));
      this.transitions.set(t.id, this.now);
      this.createsBySlot.set(slotKey(t), (this.createsBySlot.get(slotKey(t)) ?? 0) + 1);
    }
    for (const u of d.plan.update) this.tasks.set(u.id, structuredClone(u));
    if (d.rollback) {
      this.service = rollbackService(this.service, this.now, d.status?.message);
      this.createsBySlot.clear();
    } else if (d.status) {
      this.service = { ...this.service, updateStatus: d.status };
    }
    this.decisions.push(d);
    return d;
  }

  /** Step until the update reaches one of `states` (or fail after `limitMs` of virtual time). */
  runUntil(states: UpdateState[], limitMs = 600_000, each?: () => void): UpdateState {
    const end = this.now + limitMs;
    while (this.now < end) {
      this.step();
      each?.();
      const s = this.service.updateStatus?.state;
      if (s !== undefined && states.includes(s)) return s;
    }
    throw new Error(`update did not reach ${states.map((s) => UpdateState[s]).join('|')} within ${limitMs} ms; status: ${JSON.stringify(this.service.updateStatus)}`);
  }

  running(image?: string): Task[] {
    return [...this.tasks.values()].filter((t) => t.status!.state === TaskState.RUNNING && (image === undefined || t.spec?.container?.image === image));
  }

  /** Slots whose active (desired <= RUNNING) task runs `image`. */
  slotsOn(image: string): number {
    return new Set([...this.tasks.values()].filter((t) => t.desiredState <= TaskState.RUNNING && t.spec?.container?.image === image).map((t) => t.slot)).size;
  }
}
