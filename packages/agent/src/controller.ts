// The task controller: advances one task exactly ONE state per step (SwarmKit's pattern), so
// that every transition is persisted and reported before the next one starts.
//
//   ASSIGNED → ACCEPTED → PREPARING ─(pull + runtime.prepare)→ READY → STARTING ─(runtime.start)→
//   RUNNING ─(watch: inspect + health)→ COMPLETE | FAILED
//   desired ≥ SHUTDOWN: stop (signal, grace) → SHUTDOWN; then remove when unassigned / desired REMOVE.
//
// Errors before STARTING make the task REJECTED, from STARTING on FAILED; retryable runtime errors
// (Unavailable, DeadlineExceeded, Conflict) are retried with a backoff and shown in status.err.
import { HealthState, isoTime, ShoalError, TaskState, type Task, type TaskStatus } from '@shoal/api';
import type { ContainerHandle, ContainerInspect, MountSpec, Runtime } from '@shoal/runtime';
import { backoffMs, type Clock } from './clock.js';
import { HealthMonitor, healthSpecOf, type HealthSpec } from './health.js';
import { PRIORITY, type Limiter } from './limiter.js';
import { errorMessage, type Logger } from './log.js';
import { registryAuthOf, stopOptionsOf, toTaskContainerSpec } from './spec.js';

export type StepResult =
  /** A state (or the container handle) changed: step again. */
  | { kind: 'progress' }
  /** Nothing to do now: step again after `ms`, or when the task changes if `ms` is undefined. */
  | { kind: 'wait'; ms?: number }
  /** The container is gone and the task is no longer assigned: drop the controller. */
  | { kind: 'done' };

export interface ControllerDeps {
  runtime: Runtime;
  clock: Clock;
  nodeId: string;
  logger: Logger;
  /** Bounds concurrent pulls/prepares/starts across all tasks. */
  limiter: Limiter;
  /** How often a RUNNING container is inspected. */
  pollIntervalMs: number;
  /**
   * Someone else watches RUNNING containers for all tasks at once (the reconciler lists the
   * runtime's containers every poll interval) and kicks this controller when its container is no
   * longer running: after a successful inspect, wait for that kick instead of polling on a timer.
   * Health checks still run on their own schedule.
   */
  sharedWatch?: boolean;
  /** Called after every change of status or handle (persist, then report). */
  onChange: (ctl: TaskController) => void;
  /** Retries of a retryable runtime error before it becomes fatal. */
  maxRetries?: number;
  random?: () => number;
  /** The task's secret and config files: written before prepare, removed with the container. */
  files?: TaskFileMounts;
}

export interface TaskFileMounts {
  mounts(task: Task): Promise<MountSpec[]>;
  release(taskId: string): Promise<void>;
}

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set([
  TaskState.COMPLETE,
  TaskState.SHUTDOWN,
  TaskState.FAILED,
  TaskState.REJECTED,
  TaskState.ORPHANED,
  TaskState.REMOVE,
]);

export function isTerminal(s: TaskState): boolean {
  return TERMINAL_STATES.has(s);
}

function isRetryable(err: unknown): boolean {
  return err instanceof ShoalError && err.retryable;
}

function isNotFound(err: unknown): boolean {
  return err instanceof ShoalError && err.code === 'NotFound';
}

export interface ControllerInit {
  task: Task;
  status?: TaskStatus | undefined;
  handle?: ContainerHandle | undefined;
}

export class TaskController {
  task: Task;
  status: TaskStatus;
  handle: ContainerHandle | undefined;
  /** Set when the task is no longer assigned: stop, remove, then report done. */
  unassigned = false;
  private health: HealthMonitor | undefined;
  private healthSpec: HealthSpec | undefined;
  private retries = 0;
  private readonly log: Logger;

  constructor(
    init: ControllerInit,
    private readonly deps: ControllerDeps,
  ) {
    this.task = init.task;
    this.handle = init.handle;
    this.log = deps.logger.child({ taskId: init.task.id });
    const s = init.status ?? init.task.status;
    // A task the manager just assigned carries the manager's status (ASSIGNED or earlier).
    this.status = s
      ? { ...s, container: s.container ? { ...s.container } : undefined }
      : { state: TaskState.ASSIGNED, message: 'assigned', err: '', health: HealthState.HEALTH_NONE, appliedBy: '' };
    if (this.status.state < TaskState.ASSIGNED) this.status.state = TaskState.ASSIGNED;
  }

  get id(): string {
    return this.task.id;
  }

  get state(): TaskState {
    return this.status.state;
  }

  /** The manager sent a new version of the task (desired state or spec). */
  update(task: Task): void {
    this.task = task;
    this.unassigned = false;
  }

  /** Re-adoption after an agent restart: the container was found in `info` state. */
  adopt(handle: ContainerHandle, info: ContainerInspect): void {
    this.handle = handle;
    if (isTerminal(this.status.state)) return;
    if (info.state === 'running') {
      const pid = info.pid;
      this.status = {
        ...this.status,
        state: TaskState.RUNNING,
        message: 'started',
        err: '',
        container: { containerId: handle.containerId, pid: pid ?? 0, exitCode: 0 },
      };
      this.startHealth();
    } else if (info.state === 'exited') {
      this.finishExited(info, 'while the agent was down');
    } else if (info.state === 'created' && this.status.state < TaskState.READY) {
      this.status = { ...this.status, state: TaskState.READY, message: 'prepared' };
    }
    this.touch();
  }

  /** Re-adoption found no container for a task whose state says there should be one. */
  containerLost(): void {
    if (isTerminal(this.status.state) || this.status.state < TaskState.READY) return;
    this.handle = undefined;
    this.fail(TaskState.FAILED, 'task: container not found after agent restart');
  }

  async step(): Promise<StepResult> {
    const state = this.status.state;
    const desired = this.task.desiredState;
    const stopping = this.unassigned || desired >= TaskState.SHUTDOWN;

    if (isTerminal(state)) {
      if (this.handle && (this.unassigned || desired >= TaskState.REMOVE)) return this.removeContainer();
      return this.unassigned ? { kind: 'done' } : { kind: 'wait' };
    }
    if (stopping) return this.shutdown();

    const next = this.nextState(state);
    // Never move past the desired state (e.g. desired READY: prepare but do not start).
    if (next !== undefined && desired <= TaskState.RUNNING && next > desired) return { kind: 'wait' };

    switch (state) {
      case TaskState.NEW:
      case TaskState.PENDING:
      case TaskState.ASSIGNED:
        return this.transition(TaskState.ACCEPTED, 'accepted');
      case TaskState.ACCEPTED:
        return this.transition(TaskState.PREPARING, 'preparing');
      case TaskState.PREPARING:
        return this.prepare();
      case TaskState.READY:
        return this.transition(TaskState.STARTING, 'starting');
      case TaskState.STARTING:
        return this.start();
      case TaskState.RUNNING:
        return this.watch();
      default:
        return { kind: 'wait' };
    }
  }

  private nextState(s: TaskState): TaskState | undefined {
    switch (s) {
      case TaskState.NEW:
      case TaskState.PENDING:
      case TaskState.ASSIGNED:
        return TaskState.ACCEPTED;
      case TaskState.ACCEPTED:
        return TaskState.PREPARING;
      case TaskState.PREPARING:
        return TaskState.READY;
      case TaskState.READY:
        return TaskState.STARTING;
      case TaskState.STARTING:
        return TaskState.RUNNING;
      default:
        return undefined;
    }
  }

  private async prepare(): Promise<StepResult> {
    const { runtime } = this.deps;
    try {
      const spec = toTaskContainerSpec(this.task, this.deps.nodeId);
      const auth = registryAuthOf(this.task.spec?.container);
      this.healthSpec = healthSpecOf(this.task.spec?.container);
      if (!this.handle) {
        const files = (await this.deps.files?.mounts(this.task)) ?? [];
        if (files.length) spec.mounts = [...(spec.mounts ?? []), ...files];
        const handle = await this.deps.limiter.run(async () => {
          if (!(await runtime.imageExists(spec.image))) {
            this.log.info('pulling image', { image: spec.image });
            await runtime.pullImage(spec.image, auth);
          }
          return runtime.prepare(spec);
        }, { priority: PRIORITY.normal });
        this.handle = handle;
      }
      this.retries = 0;
      return this.transition(TaskState.READY, 'prepared', { container: { containerId: this.handle.containerId, pid: 0, exitCode: 0 } });
    } catch (err) {
      return this.error(err);
    }
  }

  private async start(): Promise<StepResult> {
    const handle = this.handle;
    if (!handle) return this.fail(TaskState.FAILED, 'task: no container to start');
    try {
      await this.deps.limiter.run(() => this.deps.runtime.start(handle), { urgent: true });
      let pid = 0;
      try {
        pid = (await this.deps.runtime.inspect(handle)).pid ?? 0;
      } catch {
        // the watch step will find out
      }
      this.retries = 0;
      this.startHealth();
      return this.transition(TaskState.RUNNING, 'started', { container: { containerId: handle.containerId, pid, exitCode: 0 } });
    } catch (err) {
      return this.error(err);
    }
  }

  private startHealth(): void {
    if (this.healthSpec === undefined) {
      try {
        this.healthSpec = healthSpecOf(this.task.spec?.container);
      } catch {
        this.healthSpec = undefined;
      }
    }
    this.health = this.healthSpec ? new HealthMonitor(this.healthSpec, this.deps.clock.now()) : undefined;
    this.status = { ...this.status, health: this.health ? HealthState.HEALTH_STARTING : HealthState.HEALTH_NONE };
  }

  private async watch(): Promise<StepResult> {
    const { runtime, clock, pollIntervalMs } = this.deps;
    const handle = this.handle;
    if (!handle) return this.fail(TaskState.FAILED, 'task: container not found');
    let info: ContainerInspect;
    try {
      info = await runtime.inspect(handle);
    } catch (err) {
      if (isNotFound(err)) return this.fail(TaskState.FAILED, 'task: container not found');
      this.log.warn('inspect failed', { err: errorMessage(err) });
      return { kind: 'wait', ms: pollIntervalMs };
    }
    if (info.state === 'exited') {
      this.finishExited(info);
      this.touch();
      return { kind: 'progress' };
    }
    if (this.health && info.state === 'running') {
      if (clock.now() >= this.health.nextDue) {
        const before = this.health.state;
        const after = await this.health.probe(runtime, handle, clock.now());
        if (after === HealthState.UNHEALTHY) {
          this.log.warn('container unhealthy', { output: this.health.lastOutput });
          try {
            await runtime.stop(handle, stopOptionsOf(this.task));
          } catch (err) {
            this.log.warn('stop of unhealthy container failed', { err: errorMessage(err) });
          }
          this.status = { ...this.status, health: HealthState.UNHEALTHY };
          return this.fail(TaskState.FAILED, 'task: unhealthy container');
        }
        if (after !== before) {
          this.status = { ...this.status, health: after, timestamp: isoTime(clock.now()) };
          this.touch();
        }
      }
      return { kind: 'wait', ms: Math.max(0, Math.min(pollIntervalMs, this.health.nextDue - clock.now())) };
    }
    return this.deps.sharedWatch ? { kind: 'wait' } : { kind: 'wait', ms: pollIntervalMs };
  }

  private finishExited(info: ContainerInspect, when?: string): void {
    const code = info.exitCode ?? -1;
    const container = { containerId: this.handle?.containerId ?? '', pid: 0, exitCode: code };
    const suffix = when ? ` ${when}` : '';
    if (code === 0) {
      this.status = { ...this.status, state: TaskState.COMPLETE, message: `finished${suffix}`, err: '', container, timestamp: isoTime(this.deps.clock.now()) };
    } else {
      const reason = info.reason && info.reason !== 'Error' && info.reason !== 'Completed' ? ` ${info.reason}` : '';
      this.status = {
        ...this.status,
        state: TaskState.FAILED,
        message: `failed${suffix}`,
        err: `task: non-zero exit (${code})${reason}`,
        container,
        timestamp: isoTime(this.deps.clock.now()),
      };
    }
  }

  private async shutdown(): Promise<StepResult> {
    const handle = this.handle;
    if (handle) {
      try {
        await this.deps.runtime.stop(handle, stopOptionsOf(this.task));
      } catch (err) {
        if (!isNotFound(err)) {
          this.log.warn('stop failed', { err: errorMessage(err) });
          this.status = { ...this.status, err: `stop: ${errorMessage(err)}` };
          this.touch();
          return { kind: 'wait', ms: backoffMs(this.retries++, 200, 10_000, this.deps.random) };
        }
      }
      let exitCode = this.status.container?.exitCode ?? 0;
      try {
        const info = await this.deps.runtime.inspect(handle);
        if (info.exitCode !== undefined) exitCode = info.exitCode;
      } catch {
        // gone already
      }
      return this.transition(TaskState.SHUTDOWN, 'shutdown', {
        err: '',
        container: { containerId: handle.containerId, pid: 0, exitCode },
      });
    }
    return this.transition(TaskState.SHUTDOWN, 'shutdown', { err: '' });
  }

  private async removeContainer(): Promise<StepResult> {
    const handle = this.handle;
    if (!handle) return { kind: 'wait' };
    try {
      // nothing waits for the removal of a stopped container: it goes after starts and prepares
      const stopFirst = this.status.state !== TaskState.SHUTDOWN;
      await this.deps.limiter.run(async () => {
        if (stopFirst) {
          await this.deps.runtime.stop(handle, stopOptionsOf(this.task)).catch((err: unknown) => {
            if (!isNotFound(err)) throw err;
          });
        }
        await this.deps.runtime.remove(handle);
      }, { priority: stopFirst ? PRIORITY.normal : PRIORITY.background });
    } catch (err) {
      if (!isNotFound(err)) {
        this.log.warn('remove failed', { err: errorMessage(err) });
        return { kind: 'wait', ms: backoffMs(this.retries++, 200, 10_000, this.deps.random) };
      }
    }
    this.retries = 0;
    this.handle = undefined;
    await this.deps.files?.release(this.id).catch((err: unknown) => this.log.warn('removing secret/config files failed', { err: errorMessage(err) }));
    this.log.info('container removed', { containerId: handle.containerId });
    this.touch();
    return this.unassigned ? { kind: 'done' } : { kind: 'progress' };
  }

  private error(err: unknown): StepResult {
    const msg = errorMessage(err);
    const max = this.deps.maxRetries ?? 5;
    if (isRetryable(err) && this.retries < max) {
      const ms = backoffMs(this.retries++, 200, 10_000, this.deps.random);
      this.log.warn('retryable runtime error', { err: msg, retryInMs: ms, state: TaskState[this.status.state] });
      this.status = { ...this.status, err: msg };
      this.touch();
      return { kind: 'wait', ms };
    }
    return this.fail(this.status.state < TaskState.STARTING ? TaskState.REJECTED : TaskState.FAILED, msg);
  }

  private fail(state: TaskState, err: string): StepResult {
    this.log.warn('task failed', { state: TaskState[state], err });
    return this.transition(state, state === TaskState.REJECTED ? 'rejected' : 'failed', { err });
  }

  private transition(state: TaskState, message: string, extra: Partial<TaskStatus> = {}): StepResult {
    const from = this.status.state;
    this.status = { ...this.status, err: '', ...extra, state, message, timestamp: isoTime(this.deps.clock.now()) };
    this.log.debug('task state', { from: TaskState[from], to: TaskState[state] });
    this.touch();
    return { kind: 'progress' };
  }

  private touch(): void {
    this.status.appliedBy = this.deps.nodeId;
    this.deps.onChange(this);
  }
}
