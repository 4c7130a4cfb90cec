// The updater loop: for every service whose tasks or update status changed, runs the pure
// planUpdate step and applies its plan together with the new UpdateStatus (or the rollback of the
// service's spec) in one transaction, carrying the service version it read. It runs again at the
// decision's wakeAt (delays, monitor windows, health deadlines) on the injected clock. One
// UpdateTracker per leadership term: monitor windows restart after a leader change, while the
// durable progress (slots updated, failures) lives in the service's UpdateStatus.
import { UpdateState, type Service, type Task } from '@shoal/api';
import type { LeaderLoop, LoopContext } from '../leader-loops.js';
import type { Commit } from '../state/state.js';
import { planUpdate, rollbackService, UpdateTracker } from '../updater/index.js';
import { follow, planIsEmpty, Pump, untilAborted, WakeTimers, writePlan, type LoopDeps } from './common.js';

/**
 * No update under way: a task change cannot start one (only a new spec, a service change, can),
 * so such a service's task changes need no step. Without this every status report of every task
 * would send its whole service through planUpdate.
 */
const QUIET = new Set([UpdateState.UPDATE_UNKNOWN, UpdateState.COMPLETED, UpdateState.ROLLBACK_COMPLETED]);
const quiet = (s: Service): boolean => QUIET.has(s.updateStatus?.state ?? UpdateState.UPDATE_UNKNOWN);

export class UpdaterLoop implements LeaderLoop {
  readonly name = 'updater';
  constructor(private readonly d: LoopDeps) {}

  async run(ctx: LoopContext): Promise<void> {
    const { state, clock } = this.d;
    const tracker = new UpdateTracker();
    const dirty = new Set<string>();
    /** services with an update under way (or paused, or waiting on a canary) */
    const updating = new Set<string>();
    /** deleted tasks the tracker may still hold */
    const gone = new Set<string>();
    const timers = new WakeTimers(clock, (id) => {
      dirty.add(id);
      pump.kick();
    });

    const onCommit = (c: Commit): void => {
      for (const ch of c.changes) {
        if (ch.table === 'services') {
          updating.delete(ch.object.id);
          if (ch.action === 'delete') timers.clear(ch.object.id);
          else {
            dirty.add(ch.object.id);
            if (!quiet(ch.object as Service)) updating.add(ch.object.id);
          }
        } else if (ch.table === 'tasks') {
          const t = ch.object as Task;
          if (ch.action === 'delete') gone.add(t.id);
          if (updating.has(t.serviceId)) dirty.add(t.serviceId);
        }
      }
      if (dirty.size > 0) pump.kick();
    };

    const pass = async (): Promise<void> => {
      const ids = [...dirty];
      dirty.clear();
      let failure: unknown;
      let since = performance.now();
      for (const id of ids) {
        if (ctx.signal.aborted) return;
        // a step that writes nothing never leaves the microtask queue: let timers and I/O (raft
        // heartbeats) in every 20 ms when a pass goes through many services, e.g. on taking over
        if (performance.now() - since > 20) {
          await new Promise<void>((r) => setImmediate(r));
          since = performance.now();
          if (ctx.signal.aborted) return;
        }
        try {
          await this.step(ctx, id, tracker, timers);
        } catch (err) {
          dirty.add(id);
          failure ??= err;
        }
      }
      if (gone.size > 0) {
        tracker.forget(gone);
        gone.clear();
      }
      if (failure !== undefined) throw failure;
    };
    const pump = new Pump(pass, ctx.signal, ctx.log);

    follow(state, ctx.signal, onCommit);
    for (const s of state.view((tx) => tx.all('services'))) {
      dirty.add(s.id);
      if (!quiet(s)) updating.add(s.id);
    }
    pump.kick();
    try {
      await untilAborted(ctx, pump.failed);
    } finally {
      timers.cancelAll();
    }
  }

  private async step(ctx: LoopContext, id: string, tracker: UpdateTracker, timers: WakeTimers): Promise<void> {
    const { state, clock } = this.d;
    const now = clock.now();
    const read = state.view((tx) => {
      const service = tx.get('services', id);
      return service ? { service, tasks: tx.tasksByService(id) } : undefined;
    });
    if (!read) return timers.clear(id);
    const { service, tasks } = read;
    const decision = planUpdate(service, tasks, { now, newId: this.d.newId }, tracker);
    timers.clear(id);
    timers.at(id, decision.wakeAt);
    if (!decision.rollback && !decision.status && planIsEmpty(decision.plan)) return;
    let next: Service | undefined;
    if (decision.rollback) next = rollbackService(service, now, decision.status?.message);
    else if (decision.status) next = { ...structuredClone(service), updateStatus: decision.status };
    await state.update((tx) => {
      ctx.checkLeader();
      if (next) tx.update('services', next); // carries the version read: Conflict if it moved
      writePlan(tx, decision.plan);
    });
    if (decision.status) ctx.log.info('update status', { serviceId: id, state: decision.status.state, message: decision.status.message });
  }
}
