// The scheduler loop: keeps a SchedulerState current from store events and places pending tasks
// in batches. As in SwarmKit, a new task first moves NEW -> PENDING (the allocator's step; there
// is no network allocation yet), then the scheduler assigns PENDING tasks to nodes and writes
// ASSIGNED + node id in transactions of up to `batchSize` tasks. Each task is re-read inside the
// transaction and skipped if it changed meanwhile, so that one stale task never fails a batch.
// Tasks that fit nowhere stay PENDING with the explanation in status.message, and are retried when
// nodes change or resources are freed. A task that is no longer wanted before it reached a node
// (desired state past RUNNING) is marked SHUTDOWN so that history retention can collect it.
import { isoTime, TaskState, type Task } from '@shoal/api';
import type { LeaderLoop, LoopContext } from '../leader-loops.js';
import { SchedulerState } from '../scheduler/index.js';
import type { Commit } from '../state/state.js';
import { chunks, DEFAULT_BATCH, follow, Pump, untilAborted, type LoopDeps } from './common.js';

const state_ = (t: Task): TaskState => t.status?.state ?? TaskState.NEW;
const wanted = (t: Task): boolean => t.desiredState <= TaskState.RUNNING;
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
    const sched = new SchedulerState();
    /** NEW tasks to move to PENDING (or SHUTDOWN) */
    const fresh = new Set<string>();
    /** PENDING tasks to place */
    const pending = new Set<string>();
    let retry = true; // something changed that may make unschedulable tasks fit

    const track = (t: Task): void => {
      const st = state_(t);
      if (st === TaskState.NEW || (st === TaskState.PENDING && !wanted(t))) fresh.add(t.id);
      else fresh.delete(t.id);
      if (st === TaskState.PENDING && wanted(t)) {
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
      if (await this.promote(ctx, fresh, pending, batch)) retry = true;
      if (!retry || pending.size === 0) return;
      retry = false;
      const started = performance.now();
      const tasks = state.view((tx) => {
        const out: Task[] = [];
        for (const id of pending) {
          const t = tx.get('tasks', id);
          if (t && state_(t) === TaskState.PENDING && wanted(t)) out.push(t);
          else if (!t || state_(t) !== TaskState.PENDING) pending.delete(id);
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
      // from slice to slice exactly as within one.
      for (const slice of chunks(todo, batch)) {
        if (ctx.signal.aborted) return;
        const result = sched.schedule(slice);
        unschedulable.push(...result.unschedulable);
        if (result.assignments.length === 0) continue;
        try {
          const done = await state.update((tx) => {
            ctx.checkLeader();
            const ok: string[] = [];
            for (const a of result.assignments) {
              const cur = tx.get('tasks', a.taskId);
              if (!cur || state_(cur) !== TaskState.PENDING || !wanted(cur) || (cur.nodeId && cur.nodeId !== a.nodeId)) {
                if (cur) sched.upsertTask(cur);
                else sched.removeTask(a.taskId);
                continue;
              }
              tx.update('tasks', { ...cur, nodeId: a.nodeId, status: { ...cur.status!, state: TaskState.ASSIGNED, message: 'scheduler assigned task to node', timestamp: now } });
              ok.push(a.taskId);
            }
            return ok;
          });
          for (const id of done) pending.delete(id);
          assigned += done.length;
        } catch (err) {
          // nothing of this slice was written: undo the optimistic placements
          for (const a of result.assignments) sched.upsertTask(byId.get(a.taskId)!);
          retry = true;
          failure ??= err;
        }
      }
      const messages = unschedulable.filter((u) => byId.get(u.taskId)?.status?.message !== u.message);
      for (const part of chunks(messages, batch)) {
        if (ctx.signal.aborted) return;
        try {
          await state.update((tx) => {
            ctx.checkLeader();
            for (const u of part) {
              const cur = tx.get('tasks', u.taskId);
              if (!cur || state_(cur) !== TaskState.PENDING || cur.status?.message === u.message) continue;
              tx.update('tasks', { ...cur, status: { ...cur.status!, message: u.message, timestamp: now } });
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

  /** NEW -> PENDING for wanted tasks, -> SHUTDOWN for unplaced tasks no longer wanted; true if any became PENDING. */
  private async promote(ctx: LoopContext, fresh: Set<string>, pending: Set<string>, batch: number): Promise<boolean> {
    let any = false;
    if (fresh.size === 0) return any;
    const now = isoTime(this.d.clock.now());
    for (const part of chunks([...fresh], batch)) {
      if (ctx.signal.aborted) return any;
      const moved = await this.d.state.update((tx) => {
        ctx.checkLeader();
        const out: string[] = [];
        for (const id of part) {
          const cur = tx.get('tasks', id);
          if (!cur || state_(cur) > TaskState.PENDING || (state_(cur) === TaskState.PENDING && wanted(cur))) continue;
          const st = wanted(cur) ? TaskState.PENDING : TaskState.SHUTDOWN;
          const message = st === TaskState.PENDING ? 'pending task scheduling' : 'shut down before it was scheduled';
          tx.update('tasks', { ...cur, status: { ...cur.status!, state: st, message, timestamp: now } });
          if (st === TaskState.PENDING) out.push(id);
        }
        return out;
      });
      for (const id of part) fresh.delete(id);
      for (const id of moved) pending.add(id);
      if (moved.length > 0) any = true;
    }
    return any;
  }
}
