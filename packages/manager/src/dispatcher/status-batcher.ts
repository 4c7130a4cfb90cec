// Task status updates from agents, coalesced for a short window (or until N are pending) and
// written in one store transaction. A later update of the same task replaces an earlier one
// unless it would move the task backwards.
//
// The window limits the rate, it does not delay a lone update: after a quiet window the first
// update is written in the next turn of the event loop (with whatever arrived in the same turn);
// updates within `windowMs` of that flush wait for the window to end. So a busy dispatcher still
// writes at most one status entry per window, while the reports a rolling update waits on (an
// old task stopped, a new one running) reach the store without sitting out the window.
import { TaskState, type TaskStatus } from '@shoal/api';
import type { ManagerState } from '../state/state.js';
import type { Clock, Timer } from '../util/clock.js';
import type { Logger } from '../util/log.js';

interface Pending {
  nodeId: string;
  status: TaskStatus;
}

export class StatusBatcher {
  private pending = new Map<string, Pending>();
  private timer: Timer | undefined;
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  /** when the last flush began (the window's rate limit) */
  private lastFlushAt = -Infinity;

  constructor(
    private readonly state: ManagerState,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly windowMs = 50,
    private readonly maxPending = 200,
    private readonly onFlush: () => void = () => {},
  ) {}

  /** requests waiting for the next flush */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Queue updates; resolves once they are committed. */
  add(nodeId: string, updates: { taskId: string; status: TaskStatus }[]): Promise<void> {
    for (const u of updates) {
      const prev = this.pending.get(u.taskId);
      // a late, lower state (reordered delivery) never replaces a higher one
      if (!prev || prev.nodeId !== nodeId || u.status.state >= prev.status.state) this.pending.set(u.taskId, { nodeId, status: u.status });
    }
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.pending.size >= this.maxPending) void this.flush();
    else if (!this.timer) this.timer = this.clock.setTimer(Math.max(0, this.lastFlushAt + this.windowMs - this.clock.now()), () => void this.flush());
    return done;
  }

  async flush(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    const batch = this.pending;
    const waiters = this.waiters;
    this.pending = new Map();
    this.waiters = [];
    if (batch.size === 0) return waiters.forEach((w) => w.resolve());
    this.lastFlushAt = this.clock.now();
    try {
      await this.state.update((tx) => {
        for (const [taskId, u] of batch) {
          const t = tx.get('tasks', taskId);
          if (!t || t.nodeId !== u.nodeId) continue; // a node only reports its own tasks
          const cur = t.status?.state ?? TaskState.NEW;
          if (u.status.state < cur) continue; // never move a task backwards
          tx.update('tasks', { ...t, status: { ...u.status, appliedBy: u.nodeId } });
        }
      });
      this.onFlush();
      waiters.forEach((w) => w.resolve());
    } catch (err) {
      this.log.warn('task status batch failed', { count: batch.size, err: (err as Error).message });
      waiters.forEach((w) => w.reject(err));
    }
  }

  cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }
}
