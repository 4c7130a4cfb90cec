// What the updater has seen of its new tasks during this leadership term: when each first ran,
// and when each was first "done" (running, and healthy when the service has a healthcheck).
// It is deliberately not persisted: after a leader change the new leader starts watching the
// tasks again from the moment it sees them (monitor windows restart, conservatively), while the
// durable progress — which slots were updated and which tasks failed — lives in the service's
// UpdateStatus, so that no slot is updated twice.
import { HealthState, TaskState, type Task } from '@shoal/api';

/**
 * The one answer to "may this task serve?": it is RUNNING and, when its service has a
 * healthcheck, HEALTHY. The rolling updater counts a new task toward an update's progress only
 * once this holds (health gating). Seam for the overlay load balancer (not built yet): a task
 * joins its service's VIP backends only while `taskIsReady` holds, and leaves when it stops
 * holding — use this predicate there rather than a second definition of "ready".
 */
export function taskIsReady(t: Task, requireHealth: boolean): boolean {
  return t.status?.state === TaskState.RUNNING && (!requireHealth || t.status?.health === HealthState.HEALTHY);
}

export class UpdateTracker {
  private readonly runningAt = new Map<string, number>();
  private readonly doneAt = new Map<string, number>();

  /** Record what `t` looks like at `now`; returns the first times it was seen running and done. */
  observe(t: Task, now: number, needsHealth: boolean): { runningAt: number | undefined; doneAt: number | undefined } {
    if (t.status?.state === TaskState.RUNNING) {
      if (!this.runningAt.has(t.id)) this.runningAt.set(t.id, now);
      if (taskIsReady(t, needsHealth) && !this.doneAt.has(t.id)) this.doneAt.set(t.id, now);
    }
    return { runningAt: this.runningAt.get(t.id), doneAt: this.doneAt.get(t.id) };
  }

  doneTime(id: string): number | undefined {
    return this.doneAt.get(id);
  }

  /** Forget tasks that were deleted (keeps the maps bounded). */
  forget(ids: Iterable<string>): void {
    for (const id of ids) {
      this.runningAt.delete(id);
      this.doneAt.delete(id);
    }
  }

  /** Forget tasks that no longer exist (keeps the maps bounded). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.runningAt.keys()) if (!ids.has(id)) this.runningAt.delete(id);
    for (const id of this.doneAt.keys()) if (!ids.has(id)) this.doneAt.delete(id);
  }
}
