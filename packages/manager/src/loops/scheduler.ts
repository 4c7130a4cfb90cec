// The scheduler loop: keeps a SchedulerState current from store events and places pending tasks
// in batches. In SwarmKit a new task first moves NEW -> PENDING (the allocator's step), then the
// scheduler assigns PENDING tasks to nodes. There is no network allocation here yet, so a NEW task
// that can be placed goes to ASSIGNED + node id in one write (a separate PENDING write was a
// quarter of a task's store writes on its way to RUNNING); one that fits nowhere is written
// PENDING with the reason. Placements are written in transactions of up to `batchSize` tasks. Each task is re-read inside the
// transaction and skipped if it changed meanwhile, so that one stale task never fails a batch.
// Tasks that fit nowhere stay PENDING with the explanation in status.message, and are retried when
// nodes change or resources are freed. A task that is no longer wanted before it reached a node
// (desired state past RUNNING) is marked SHUTDOWN so that history retention can collect it.
import { isoTime, TaskState, type Task } from '@shoal/api';
import type { LeaderLoop, LoopContext } from '../leader-loops.js';
import { SchedulerState } from '../scheduler/index.js';
import type { Commit } from '../state/state.js';
import { chunks, DEFAULT_BATCH, DEFAULT_IN_FLIGHT, follow, Pump, untilAborted, type LoopDeps } from './common.js';

const state_ = (t: Task): TaskState => t.status?.state ?? TaskState.NEW;
const wanted = (t: Task): boolean => t.desiredState <= TaskState.RUNNING;
/** not yet placed: NEW or PENDING */
const unplaced = (t: Task): boolean => state_(t) === TaskState.NEW || state_(t) === TaskState.PENDING;
const placeable = (t: Task): boolean => unplaced(t) && wanted(t);
/** still holds (or may hold) resources on a node */
const onNode = (t: Task): boolean => !!t.nodeId && state_(t) >= TaskState.ASSIGNED && state_(t) <= TaskState.RUNNING;

function byAge(a: Task, b: Task): number {
  const ca = a.meta?.createdAt ?? '';
  const cb = b.meta?.createdAt ?? '';
  return ca < cb ? -1 : ca > cb ? 1 : a.slot - b.slot || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export class SchedulerLoop implements LeaderLoop {
  readonly name = 'scheduler';
  constructor(private readonly d: LoopDeps) {}

  async run(ctx: LoopContext): Promise<void> {
    const { state, clock } = this.d;
    const batch = this.d.batchSize ?? DEFAULT_BATCH;
    const inFlight = Math.max(1, this.d.inFlight ?? DEFAULT_IN_FLIGHT);
    const sched = new SchedulerState();
    /** unplaced tasks no longer wanted: to SHUTDOWN */
    const fresh = new Set<string>();
    /** NEW and PENDING tasks to place */
    const pending = new Set<string>();
    let retry = true; // something changed that may make unschedulable tasks fit

    const track = (t: Task): void => {
      if (unplaced(t) && !wanted(t)) fresh.add(t.id);
      else fresh.delete(t.id);
      if (placeable(t)) {
        if (!pending.has(t.id)) retry = true;
        pending.add(t.id);
      } else pending.delete(t.id);
    };

    const onCommit = (c: Commit): void => {
      let kick = false;
      for (const ch of c.changes) {
        if (ch.table === 'nodes') {
          if (ch.action === 'delete') sched.removeNode(ch.object.id);
          else sched.upsertNode(ch.object as never);
          retry = kick = true;
        } else if (ch.table === 'tasks') {
          const t = ch.object as Task;
          if (ch.action === 'delete') {
            sched.removeTask(t.id);
            fresh.delete(t.id);
            pending.delete(t.id);
            retry = kick = true;
            continue;
          }
          sched.upsertTask(t);
          if (ch.action === 'update' && onNode(ch.old as Task) && !onNode(t)) retry = true; // resources freed
          const before = pending.size + fresh.size;
          track(t);
          if (pending.size + fresh.size !== before || fresh.has(t.id) || retry) kick = true;
        }
      }
      if (kick) pump.kick();
    };

    const pass = async (): Promise<void> => {
      await this.shutDownUnwanted(ctx, fresh, batch);
      if (!retry || pending.size === 0) return;
      retry = false;
      const started = performance.now();
      const tasks = state.view((tx) => {
        const out: Task[] = [];
        for (const id of pending) {
          const t = tx.get('tasks', id);
          if (t && placeable(t)) out.push(t);
          else if (!t || !unplaced(t)) pending.delete(id);
        }
        return out.sort(byAge);
      });
      const todo = tasks.filter(wanted);
      if (todo.length === 0) return;
      const now = isoTime(clock.now());
      let assigned = 0;
      let failure: unknown;
      const unschedulable: { taskId: string; message: string }[] = [];
      const byId = new Map(todo.map((t) => [t.id, t]));
      // A slice of `batch` tasks per decision and transaction, oldest first: deciding 100,000
      // placements at once would hold the event loop for seconds (raft heartbeats miss, leadership
      // moves). Placements are recorded in `sched` as they are made, so spreading carries over
      // from slice to slice exactly as within one. Up to `inFlight` slices are proposed without
      // waiting for one another to commit: one commit round trip per slice paced the
      // whole deploy (25 slices of 1,000 at ~0.8 s each under load), and slices committed
      // together reach each node as one assignment message (see the dispatcher). The slices
      // touch distinct tasks, so one does not make another stale; a slice that fails undoes its
      // own placements only.
      const running = new Set<Promise<void>>();
      for (const slice of chunks(todo, batch)) {
        if (ctx.signal.aborted) break;
        const result = sched.schedule(slice);
        unschedulable.push(...result.unschedulable);
        if (result.assignments.length === 0) continue;
        const write = state
          .update((tx) => {
            ctx.checkLeader();
            const ok: string[] = [];
            for (const a of result.assignments) {
              const cur = tx.get('tasks', a.taskId);
              if (!cur || !placeable(cur) || (cur.nodeId && cur.nodeId !== a.nodeId)) {
                if (cur) sched.upsertTask(cur);
                else sched.removeTask(a.taskId);
                continue;
              }
              tx.update('tasks', { ...cur, nodeId: a.nodeId, status: { ...cur.status!, state: TaskState.ASSIGNED, message: 'scheduler assigned task to node', timestamp: now } });
              ok.push(a.taskId);
            }
            return ok;
          })
          .then(
            (done) => {
              for (const id of done) pending.delete(id);
              assigned += done.length;
            },
            (err: unknown) => {
              // nothing of this slice was written: undo the optimistic placements
              for (const a of result.assignments) sched.upsertTask(byId.get(a.taskId)!);
              retry = true;
              failure ??= err;
            },
          )
          .finally(() => running.delete(write));
        running.add(write);
        // Slices go in groups of `inFlight`, proposed in one turn (a slice is ~10 ms of deciding
        // and encoding placements), and the next group waits for the whole group: raft commits
        // a group together, every node's share of it reaches the node as one assignment message,
        // and its agent reports those tasks in one call. A slice proposed whenever one commits
        // (a sliding window) commits one raft round trip after the one before, and nothing merges.
        if (running.size >= inFlight) await Promise.all(running);
      }
      await Promise.all(running);
      if (ctx.signal.aborted) return;
      // unplaceable NEW tasks become PENDING with the reason; PENDING ones get a changed reason
      const messages = unschedulable.filter((u) => {
        const t = byId.get(u.taskId);
        return !t || state_(t) === TaskState.NEW || t.status?.message !== u.message;
      });
      for (const part of chunks(messages, batch)) {
        if (ctx.signal.aborted) return;
        try {
          await state.update((tx) => {
            ctx.checkLeader();
            for (const u of part) {
              const cur = tx.get('tasks', u.taskId);
              if (!cur || !unplaced(cur) || (state_(cur) === TaskState.PENDING && cur.status?.message === u.message)) continue;
              tx.update('tasks', { ...cur, status: { ...cur.status!, state: TaskState.PENDING, message: u.message, timestamp: now } });
            }
          });
        } catch (err) {
          failure ??= err;
        }
      }
      this.d.metrics?.schedulerLatency.observe((performance.now() - started) / 1000);
      if (assigned > 0 || unschedulable.length > 0) {
        ctx.log.debug('scheduling pass', { assigned, unschedulable: unschedulable.length, ms: Math.round(performance.now() - started) });
      }
      if (failure !== undefined) throw failure;
    };

    const pump = new Pump(pass, ctx.signal, ctx.log);
    follow(state, ctx.signal, onCommit);
    // full read after subscribing
    state.view((tx) => {
      for (const n of tx.all('nodes')) sched.upsertNode(n);
      for (const t of tx.all('tasks')) {
        sched.upsertTask(t);
        track(t);
      }
    });
    retry = true;
    pump.kick();
    await untilAborted(ctx, pump.failed);
  }

  /** Unplaced tasks that are no longer wanted -> SHUTDOWN (so that history retention can collect them). */
  private async shutDownUnwanted(ctx: LoopContext, fresh: Set<string>, batch: number): Promise<void> {
    if (fresh.size === 0) return;
    const now = isoTime(this.d.clock.now());
    for (const part of chunks([...fresh], batch)) {
      if (ctx.signal.aborted) return;
      await this.d.state.update((tx) => {
        ctx.checkLeader();
        for (const id of part) {
          const cur = tx.get('tasks', id);
          if (!cur || !unplaced(cur) || wanted(cur)) continue;
          tx.update('tasks', { ...cur, status: { ...cur.status!, state: TaskState.SHUTDOWN, message: 'shut down before it was scheduled', timestamp: now } });
        }
      });
      for (const id of part) fresh.delete(id);
    }
  }
}
