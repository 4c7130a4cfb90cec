// The orchestrator loop: on service, task and node changes, runs the pure orchestrators
// (reconcileService, which includes history retention, and enforceConstraints) for the services
// concerned and applies their plans in store transactions. Dirty tasks (running an old spec) are
// left to the updater loop (ctx.updater = deferToRollingUpdater). Restart delays come back as
// plan.wakeAt and are honoured with timers on the injected clock. Tasks of removed services are
// deleted once they never reached a node or have stopped.
import { TaskState, type Node, type Task } from '@shoal/api';
import type { LeaderLoop, LoopContext } from '../leader-loops.js';
import { enforceConstraints, reconcileService, DEFAULT_HISTORY_LIMIT, indexNodes, type OrchestratorContext, type Plan } from '../orchestrator/index.js';
import type { Commit, ReadTx } from '../state/state.js';
import { deferToRollingUpdater } from '../updater/index.js';
import { DEFAULT_BATCH, DEFAULT_IN_FLIGHT, follow, planIsEmpty, planSize, Pump, untilAborted, WakeTimers, writePlan, type LoopDeps } from './common.js';

const stateOf = (t: Task): TaskState => t.status?.state ?? TaskState.NEW;

/**
 * Whether a task update can change its service's plan: desired state, node, slot or restart
 * number changed, the task stopped (restart policy, history, job completions) or reached a node
 * (a stop-first replacement waits while another task of its slot is on a node). A task's progress
 * from PENDING to RUNNING is none of these: without this filter every status report of every
 * task would send its whole service through the orchestrators again.
 */
export function taskChangeMatters(old: Task, next: Task): boolean {
  if (old.desiredState !== next.desiredState || old.nodeId !== next.nodeId || old.slot !== next.slot || old.restartAttempt !== next.restartAttempt) return true;
  const a = stateOf(old);
  const b = stateOf(next);
  return a > TaskState.RUNNING !== b > TaskState.RUNNING || a >= TaskState.ASSIGNED !== b >= TaskState.ASSIGNED;
}

export class OrchestratorLoop implements LeaderLoop {
  readonly name = 'orchestrator';
  constructor(private readonly d: LoopDeps) {}

  async run(ctx: LoopContext): Promise<void> {
    const { state, clock } = this.d;
    const batch = this.d.batchSize ?? DEFAULT_BATCH;
    const inFlight = Math.max(1, this.d.inFlight ?? DEFAULT_IN_FLIGHT);
    const dirty = new Set<string>();
    let enforce = true;
    let everything = true;
    const timers = new WakeTimers(clock, (id) => {
      dirty.add(id);
      pump.kick();
    });
    const pump = new Pump(() => pass(), ctx.signal, ctx.log);

    const onCommit = (c: Commit): void => {
      let kick = false;
      for (const ch of c.changes) {
        if (ch.table === 'services') dirty.add(ch.object.id);
        else if (ch.table === 'tasks') {
          if (ch.action === 'update' && !taskChangeMatters(ch.old as Task, ch.object as Task)) continue;
          dirty.add((ch.object as Task).serviceId);
        } else if (ch.table === 'nodes') {
          everything = true; // a node went down, was drained, or changed labels: every service may move
          enforce = true;
        } else if (ch.table === 'cluster') everything = true;
        kick = true;
      }
      if (kick) pump.kick();
    };

    const pass = async (): Promise<void> => {
      const now = clock.now();
      const octx = (tx: ReadTx): OrchestratorContext => ({
        now,
        newId: this.d.newId,
        historyLimit: tx.all('cluster')[0]?.spec?.orchestration?.taskHistoryRetentionLimit ?? DEFAULT_HISTORY_LIMIT,
        updater: deferToRollingUpdater,
      });
      if (enforce) {
        // alone in its transaction: the services it touches are planned again from its commit
        enforce = false;
        const p = state.view((tx) => enforceConstraints(tx.all('nodes'), tx.all('tasks'), octx(tx)));
        if (!planIsEmpty(p)) {
          try {
            await state.update((tx) => {
              ctx.checkLeader();
              writePlan(tx, p);
            });
          } catch (err) {
            enforce = true;
            throw err;
          }
        }
      }
      // Plan a slice of the dirty services at a time (up to `batch` objects), write it, then go on
      // from a fresh view: planning a hundred services of a thousand replicas in one go would hold
      // the event loop for seconds, long enough for raft heartbeats to miss and leadership to move.
      const ids = state.view((tx) => {
        if (everything) for (const s of tx.all('services')) dirty.add(s.id);
        everything = false;
        const out = [...dirty];
        dirty.clear();
        return out;
      });
      let next = 0;
      let planned = 0;
      /** a plan that did not fit the previous transaction (planned against a slightly older view, as all were before slicing) */
      let carry: { serviceIds: string[]; plan: Plan } | undefined;
      const running = new Set<Promise<void>>();
      let failure: unknown;
      while (next < ids.length || carry) {
        if (ctx.signal.aborted) break;
        const group: { serviceIds: string[]; plan: Plan }[] = carry ? [carry] : [];
        let size = carry ? planSize(carry.plan) : 0;
        carry = undefined;
        const sliceStart = performance.now();
        state.view((tx) => {
          const c = octx(tx);
          const nodes = indexNodes(tx.all('nodes'));
          // also bounded in time: services with nothing to do still cost a reconcile each
          while (next < ids.length && size < batch && performance.now() - sliceStart < 50) {
            const id = ids[next++]!;
            const p = this.planFor(tx, id, nodes, c);
            if (p.wakeAt !== undefined) timers.at(id, p.wakeAt);
            if (planIsEmpty(p)) continue;
            if (size > 0 && size + planSize(p) > batch) {
              carry = { serviceIds: [id], plan: p };
              break;
            }
            group.push({ serviceIds: [id], plan: p });
            size += planSize(p);
          }
        });
        if (group.length === 0) {
          await new Promise<void>((r) => setImmediate(r)); // let timers and I/O in between slices
          continue;
        }
        planned += group.length;
        // Several services per transaction, up to `batch` objects, and up to `inFlight`
        // transactions proposed at once: a plan reads only its own services' tasks, and the
        // services of one pass are distinct, so a slice does not wait for the commit of the one
        // before it (one commit round trip per slice paced a deploy of many services). A failed
        // write makes its services and the rest of the pass dirty again; the pass then fails once
        // every write in flight has settled, and the pump redoes it on a fresh view.
        const write = state
          .update((tx) => {
            ctx.checkLeader();
            for (const { plan } of group) writePlan(tx, plan);
          })
          .catch((err: unknown) => {
            for (const { serviceIds } of group) for (const id of serviceIds) dirty.add(id);
            failure ??= err;
          })
          .finally(() => running.delete(write));
        running.add(write);
        // a group of `inFlight` slices is planned and proposed in one turn and awaited as a whole,
        // so that raft commits it together and the scheduler places its tasks in one pass
        if (running.size >= inFlight) await Promise.all(running);
        if (failure !== undefined) break;
      }
      await Promise.all(running);
      if (failure !== undefined) {
        for (const { serviceIds } of carry ? [carry] : []) for (const id of serviceIds) dirty.add(id);
        for (const id of ids.slice(next)) dirty.add(id);
        throw failure;
      }
      if (planned > 0) ctx.log.debug('orchestrator pass', { services: ids.length, plans: planned });
    };

    follow(state, ctx.signal, onCommit);
    pump.kick(); // the full read: every service, and the enforcer
    try {
      await untilAborted(ctx, pump.failed);
    } finally {
      timers.cancelAll();
    }
  }

  private planFor(tx: ReadTx, serviceId: string, nodes: ReadonlyMap<string, Node>, octx: OrchestratorContext): Plan {
    const tasks = tx.tasksByService(serviceId);
    const service = tx.get('services', serviceId);
    if (service) return reconcileService(service, tasks, nodes, octx);
    // removed service: delete tasks that never reached a node or have stopped; the rest are
    // told to go (the Control API did) and are deleted once their agents report them stopped
    const del: string[] = [];
    for (const t of tasks) {
      const st = t.status?.state ?? TaskState.NEW;
      if (st < TaskState.ASSIGNED || st > TaskState.RUNNING) del.push(t.id);
    }
    return { create: [], update: [], delete: del };
  }
}
