// The reconcile loop: one TaskController per assigned task, each driven by its own runner that
// steps it until it has nothing to do, then waits for a timer or a change of the task.
// Persists every change in the task db before reporting it, and re-adopts containers on start.
import { TaskState, type Task, type TaskStatus } from '@shoal/api';
import type { OwnedContainer, Runtime } from '@shoal/runtime';
import type { Clock, Timer } from './clock.js';
import { isTerminal, TaskController, type StepResult, type TaskFileMounts } from './controller.js';
import { Limiter } from './limiter.js';
import { errorMessage, type Logger } from './log.js';
import type { TaskDb } from './taskdb.js';

export interface ReconcilerOptions {
  runtime: Runtime;
  clock: Clock;
  db: TaskDb;
  logger: Logger;
  /** This node's id (known once registered). */
  nodeId: () => string;
  /** Concurrent pulls/prepares/starts (default 8). */
  maxConcurrent?: number;
  /**
   * How often running containers are checked (default 1000 ms): one runtime.list() per interval
   * for all of them; a task whose container is not listed as running is stepped (it inspects its
   * container and reports the exit).
   */
  pollIntervalMs?: number;
  /**
   * After a task reports RUNNING its container is listed again this soon (default 200 ms; one list
   * for all tasks started meanwhile) rather than only at the next poll: a container that exits as
   * soon as it started (a broken command or image) is reported FAILED within a fraction of a
   * second, before a rolling update with parallelism 1 moves on to more slots on the strength of
   * its RUNNING. 0 turns the early check off.
   */
  startCheckMs?: number;
  /** A task's status changed (already persisted). */
  onStatus: (taskId: string, status: TaskStatus) => void;
  random?: () => number;
  /** Secret and config files of the tasks (see files.ts). */
  files?: TaskFileMounts & { prune(keep: ReadonlySet<string>): Promise<void> };
}


class Runner {
  private wake: (() => void) | undefined;
  private timer: Timer | undefined;
  private closed = false;
  private kicked = false;
  done: Promise<void> = Promise.resolve();

  constructor(
    readonly ctl: TaskController,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly onDone: (r: Runner) => void,
  ) {}

  start(): void {
    this.done = this.loop();
  }

  /** Step again now (the task changed). */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      this.kicked = false;
      let r: StepResult;
      try {
        r = await this.ctl.step();
      } catch (err) {
        this.log.error('task step threw', { taskId: this.ctl.id, err: errorMessage(err) });
        r = { kind: 'wait', ms: 1000 };
      }
      if (r.kind === 'done') {
        this.onDone(this);
        return;
      }
      if (r.kind === 'progress' || this.kicked || this.closed) continue;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        if (r.kind === 'wait' && r.ms !== undefined) this.timer = this.clock.setTimer(r.ms, resolve);
      });
      this.wake = undefined;
      this.timer?.cancel();
      this.timer = undefined;
    }
  }
}

export class Reconciler {
  private readonly runners = new Map<string, Runner>();
  /** Containers found by runtime.list() that the db does not know: adopted if assigned, else removed. */
  private readonly strays = new Map<string, OwnedContainer>();
  private readonly limiter: Limiter;
  private writes: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private closed = false;
  /** The first COMPLETE assignment set after start decides what happens to stray containers. */
  private sawComplete = false;
  private pollTimer: Timer | undefined;
  private polling: Promise<void> | undefined;
  private startCheckTimer: Timer | undefined;
  private startChecking: Promise<void> | undefined;
  /** the tasks' logger (each controller adds its task id) */
  private readonly taskLog: Logger;

  constructor(private readonly opts: ReconcilerOptions) {
    this.limiter = new Limiter(opts.maxConcurrent ?? 8);
    this.log = opts.logger.child({ component: 'reconciler' });
    this.taskLog = opts.logger.child({ component: 'task' });
  }

  get controllers(): TaskController[] {
    return [...this.runners.values()].map((r) => r.ctl);
  }

  controller(taskId: string): TaskController | undefined {
    return this.runners.get(taskId)?.ctl;
  }

  /** Reload the task db and re-adopt containers: running ones keep running. */
  async restore(): Promise<void> {
    const { db, runtime } = this.opts;
    const records = await db.listTasks();
    let owned: OwnedContainer[] = [];
    try {
      owned = await runtime.list();
    } catch (err) {
      this.log.error('runtime list failed; re-adoption uses the db only', { err: errorMessage(err) });
    }
    const byTask = new Map(owned.map((o) => [o.handle.taskId, o]));
    for (const rec of records) {
      const ctl = this.newController(rec.task, rec.status, rec.handle);
      const found = byTask.get(rec.task.id);
      byTask.delete(rec.task.id);
      const handle = rec.handle ?? found?.handle;
      if (handle && !isTerminal(rec.status.state)) {
        try {
          const info = await runtime.inspect(handle);
          ctl.adopt(handle, info);
          this.log.info('re-adopted container', { taskId: rec.task.id, containerId: handle.containerId, state: info.state });
        } catch (err) {
          this.log.warn('re-adoption: container gone', { taskId: rec.task.id, err: errorMessage(err) });
          ctl.containerLost();
        }
      } else if (handle) {
        ctl.handle = handle;
      } else {
        ctl.containerLost();
      }
      this.persist(ctl);
      this.opts.onStatus(ctl.id, { ...ctl.status });
      this.startRunner(ctl);
    }
    for (const [taskId, o] of byTask) this.strays.set(taskId, o);
    // files of tasks this agent no longer knows (forgotten while it was down)
    await this.opts.files?.prune(new Set(this.runners.keys())).catch((err: unknown) => this.log.warn('pruning secret/config files failed', { err: errorMessage(err) }));
    if (this.strays.size) this.log.info('containers without a task record', { count: this.strays.size });
  }

  /** Applies an assignment set: `complete` replaces everything; otherwise updates and removals. */
  async apply(change: { complete: boolean; updated: Task[]; removed: string[] }): Promise<void> {
    if (this.closed) return;
    const seen = new Set<string>();
    for (const task of change.updated) {
      seen.add(task.id);
      const r = this.runners.get(task.id);
      if (r) {
        r.ctl.update(task);
        this.persist(r.ctl);
        r.kick();
        continue;
      }
      const ctl = this.newController(task, undefined, undefined);
      const stray = this.strays.get(task.id);
      if (stray) {
        this.strays.delete(task.id);
        try {
          ctl.adopt(stray.handle, await this.opts.runtime.inspect(stray.handle));
        } catch (err) {
          this.log.warn('stray container gone', { taskId: task.id, err: errorMessage(err) });
        }
      }
      this.persist(ctl);
      this.opts.onStatus(ctl.id, ctl.status);
      this.startRunner(ctl);
    }
    const removed = change.complete ? [...this.runners.keys()].filter((id) => !seen.has(id)) : change.removed;
    for (const id of removed) {
      const r = this.runners.get(id);
      if (!r) continue;
      r.ctl.unassigned = true;
      r.kick();
    }
    if (change.complete && !this.sawComplete) {
      this.sawComplete = true;
      for (const [taskId, o] of this.strays) {
        this.log.info('removing container of a task no longer assigned', { taskId, containerId: o.handle.containerId });
        this.strays.delete(taskId);
        void this.opts.runtime
          .stop(o.handle)
          .then(() => this.opts.runtime.remove(o.handle))
          .catch((err: unknown) => this.log.warn('stray removal failed', { taskId, err: errorMessage(err) }));
      }
      // What interrupted work left for tasks no longer assigned (a sandbox without container,
      // task dirs, pod cgroups): the runtime cleans it, sparing every task assigned now.
      const keep = new Set(this.runners.keys());
      void this.opts.runtime.prune?.(keep)
        .then((ids) => { if (ids.length) this.log.info('pruned leftovers of unassigned tasks', { taskIds: ids }); })
        .catch((err: unknown) => this.log.warn('runtime prune failed', { err: errorMessage(err) }));
    }
  }

  /** Stops the runners (not the containers: they keep running while the agent is down). */
  async close(): Promise<void> {
    this.closed = true;
    this.pollTimer?.cancel();
    this.pollTimer = undefined;
    this.startCheckTimer?.cancel();
    this.startCheckTimer = undefined;
    await this.polling;
    await this.startChecking;
    const runners = [...this.runners.values()];
    for (const r of runners) r.close();
    await Promise.all(runners.map((r) => r.done));
    await this.writes;
  }

  /** Waits until all pending db writes are done. */
  flushWrites(): Promise<void> {
    return this.writes;
  }

  tasksByState(into: Record<string, number> = {}): Record<string, number> {
    // counted by number, named once per state: a hollow farm asks this of a thousand agents
    const counts = new Map<TaskState, number>();
    for (const r of this.runners.values()) counts.set(r.ctl.state, (counts.get(r.ctl.state) ?? 0) + 1);
    for (const [state, n] of counts) {
      const k = TaskState[state] ?? String(state);
      into[k] = (into[k] ?? 0) + n;
    }
    return into;
  }

  private newController(task: Task, status: TaskStatus | undefined, handle: TaskController['handle']): TaskController {
    const o = this.opts;
    const deps = {
      runtime: o.runtime,
      clock: o.clock,
      nodeId: o.nodeId(),
      logger: this.taskLog,
      limiter: this.limiter,
      pollIntervalMs: this.pollMs,
      sharedWatch: true,
      onChange: (c: TaskController) => this.changed(c),
      ...(o.random ? { random: o.random } : {}),
      ...(o.files ? { files: o.files } : {}),
    };
    return new TaskController({ task, status, handle }, deps);
  }

  private startRunner(ctl: TaskController): void {
    const r = new Runner(ctl, this.opts.clock, this.log, (done) => this.finished(done));
    this.runners.set(ctl.id, r);
    r.start();
    this.schedulePoll();
  }

  private get pollMs(): number {
    return this.opts.pollIntervalMs ?? 1000;
  }

  /** Runs while there are tasks: one list of the runtime's containers per poll interval. */
  private schedulePoll(): void {
    if (this.closed || this.pollTimer || this.polling) return;
    this.pollTimer = this.opts.clock.setTimer(this.pollMs, () => {
      this.pollTimer = undefined;
      this.polling = this.pollRunning().finally(() => {
        this.polling = undefined;
        if (this.runners.size > 0) this.schedulePoll();
      });
    });
  }

  /** A task just reported RUNNING: list the containers again soon (see startCheckMs). */
  private scheduleStartCheck(): void {
    const ms = this.opts.startCheckMs ?? 200;
    if (ms <= 0 || this.closed || this.startCheckTimer) return;
    this.startCheckTimer = this.opts.clock.setTimer(ms, () => {
      this.startCheckTimer = undefined;
      if (this.startChecking) return;
      this.startChecking = this.pollRunning().finally(() => {
        this.startChecking = undefined;
      });
    });
  }

  /**
   * Kicks every RUNNING task whose container is not listed as running (exited, gone, or the list
   * failed): its controller inspects the container and reports what happened.
   */
  private async pollRunning(): Promise<void> {
    const watched = [...this.runners.values()].filter((r) => r.ctl.state === TaskState.RUNNING && r.ctl.handle);
    if (watched.length === 0 || this.closed) return;
    let running: Set<string> | undefined;
    try {
      running = new Set((await this.opts.runtime.list()).filter((c) => c.state === 'running').map((c) => c.handle.containerId));
    } catch (err) {
      this.log.warn('runtime list failed; inspecting each running task', { err: errorMessage(err) });
    }
    for (const r of watched) if (!running || !running.has(r.ctl.handle!.containerId)) r.kick();
  }

  private changed(ctl: TaskController): void {
    if (!this.runners.has(ctl.id)) return; // initial adoption: persisted/reported by the caller
    this.persist(ctl);
    this.opts.onStatus(ctl.id, { ...ctl.status });
    if (ctl.state === TaskState.RUNNING) this.scheduleStartCheck();
  }

  private finished(r: Runner): void {
    if (this.runners.get(r.ctl.id) === r) this.runners.delete(r.ctl.id);
    const id = r.ctl.id;
    if (this.opts.db.inMemory) this.opts.db.deleteTaskNow(id);
    else this.enqueue(() => this.opts.db.deleteTask(id));
    void this.opts.files?.release(id).catch((err: unknown) => this.log.warn('removing secret/config files failed', { taskId: id, err: errorMessage(err) }));
    this.log.info('task forgotten', { taskId: id });
  }

  private persist(ctl: TaskController): void {
    const rec = { task: ctl.task, status: { ...ctl.status }, handle: ctl.handle };
    // an in-memory db (hollow nodes) takes the write at once, in order with every other write
    if (this.opts.db.inMemory) this.opts.db.putTaskNow(rec);
    else this.enqueue(() => this.opts.db.putTask(rec));
  }

  private enqueue(fn: () => Promise<void>): void {
    this.writes = this.writes.then(fn).catch((err: unknown) => this.log.error('task db write failed', { err: errorMessage(err) }));
  }
}
