// The leader loops (orchestrator, scheduler, updater) over a real Store on a LocalProposer, with
// leadership driven by hand, a virtual clock and fake agents that move tasks through the store.
import test, { type ExecutionContext } from 'ava';
import { msDuration, NodeAvailability, RestartCondition, TaskState, UpdateState, type Service, type Task } from '@shoal/api';
import { Store } from '@shoal/store';
import { ensureCluster } from '../../src/ca/cluster.js';
import { ControlServer } from '../../src/controlapi/server.js';
import { LeaderLoops, ManualLeadership } from '../../src/leader-loops.js';
import { controlLoops } from '../../src/loops/index.js';
import { ManagerMetrics } from '../../src/metrics.js';
import type { ManagerState, ReadTx, WriteTx } from '../../src/state/state.js';
import { StoreState } from '../../src/state/store-adapter.js';
import { VirtualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';
import { FakeAgents, imageOf, isRunning, serviceSpec, waitFor, workerNode } from './_fake-agent.js';

/** Counts the transactions the loops commit, and any committed while not leader. */
class CountingState implements ManagerState {
  commits = 0;
  afterStepDown = 0;
  constructor(
    private readonly inner: ManagerState,
    private readonly leading: () => boolean,
  ) {}
  view<R>(fn: (tx: ReadTx) => R): R {
    return this.inner.view(fn);
  }
  /** set: resolve each write only after this (a commit round trip), and count the writes in flight */
  latency: (() => Promise<void>) | undefined;
  /** most writes in flight at once: those creating tasks (orchestrator) and those placing them (scheduler) */
  readonly maxInFlight = { create: 0, place: 0 };
  private readonly inFlight = { create: 0, place: 0 };
  async update<R>(fn: (tx: WriteTx) => R): Promise<R> {
    const before = (this.inner as StoreState).store.index;
    let kind: 'create' | 'place' | undefined;
    const r = await this.inner.update((tx) =>
      fn({
        ...tx,
        create: (t, obj) => {
          if (t === 'tasks') kind = 'create';
          tx.create(t, obj);
        },
        update: (t, obj) => {
          if (t === 'tasks' && (obj as Task).status?.state === TaskState.ASSIGNED) kind = 'place';
          tx.update(t, obj);
        },
      }),
    );
    if (kind && this.latency) {
      this.maxInFlight[kind] = Math.max(this.maxInFlight[kind], ++this.inFlight[kind]);
      await this.latency();
      this.inFlight[kind]--;
    }
    if ((this.inner as StoreState).store.index > before) {
      this.commits++;
      if (!this.leading()) this.afterStepDown++;
    }
    return r;
  }
  subscribe(cb: Parameters<ManagerState['subscribe']>[0]): () => void {
    return this.inner.subscribe(cb);
  }
}

function setup(batchSize?: number) {
  const clock = new VirtualClock();
  let n = 0;
  const newId = (): string => `id${String(++n).padStart(5, '0')}`;
  const store = new Store({ clock: () => clock.now(), newId });
  const state = new StoreState(store);
  const leadership = new ManualLeadership();
  const counting = new CountingState(state, () => leadership.current().leader);
  const metrics = new ManagerMetrics();
  const loops = new LeaderLoops(leadership, controlLoops({ state: counting, clock, newId, metrics, ...(batchSize ? { batchSize } : {}) }), { clock, restartDelayMs: 100 });
  const control = new ControlServer({ state, newId, log: silentLogger, clock });
  const agents = new FakeAgents(() => state, () => clock.now());
  agents.follow(state);
  const tasks = (serviceId: string): Task[] => state.view((tx) => tx.tasksByService(serviceId));
  const service = (id: string): Service => state.view((tx) => tx.get('services', id)!);
  const step = (): void => clock.advance(200);
  return { clock, store, state, leadership, counting, metrics, loops, control, agents, tasks, service, step };
}

type H = ReturnType<typeof setup>;

const running = (h: H, id: string): Task[] => h.tasks(id).filter(isRunning);
const activeBySlot = (ts: Task[]): Map<number, Task[]> => {
  const m = new Map<number, Task[]>();
  for (const t of ts) if (t.desiredState <= TaskState.RUNNING) m.set(t.slot, [...(m.get(t.slot) ?? []), t]);
  return m;
};
const summary = (h: H, id: string) => h.tasks(id).map((t) => `${t.slot}:${imageOf(t)}:${TaskState[t.status!.state]}/${TaskState[t.desiredState]}@${t.nodeId}`);

async function converged(h: H, id: string, replicas: number, image: string, what: string): Promise<void> {
  await waitFor(
    what,
    () => {
      const r = running(h, id);
      const slots = new Set(r.map((t) => t.slot));
      const active = h.tasks(id).filter((t) => t.desiredState <= TaskState.RUNNING);
      return r.length === replicas && slots.size === replicas && active.length === replicas && r.every((t) => imageOf(t) === image);
    },
    { step: h.step, last: () => summary(h, id) },
  );
}

test('loops deploy, scale, roll out, drain, and resume after a leader change', async (t) => {
  const h = setup();
  t.teardown(() => h.loops.stop());
  await h.state.update((tx) => {
    ensureCluster(tx, 'c1');
    for (const id of ['n1', 'n2', 'n3']) tx.create('nodes', workerNode(id));
  });
  h.leadership.set({ leader: true, term: 1 });
  h.loops.start();

  // deploy 10 replicas: spread evenly over 3 nodes
  const { service: web } = (await h.control.call('createService', { spec: serviceSpec('web', 10, 'nginx:1', { parallelism: 2 }) })) as { service: Service };
  await converged(h, web.id, 10, 'nginx:1', '10 running tasks of web');
  const perNode = new Map<string, number>();
  for (const x of running(h, web.id)) perNode.set(x.nodeId, (perNode.get(x.nodeId) ?? 0) + 1);
  t.deepEqual([...perNode.values()].sort(), [3, 3, 4], 'spread evenly');
  t.deepEqual([...new Set(running(h, web.id).map((x) => x.slot))].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  let gauge = '';
  await waitFor('shoal_tasks{state="running"} 10', () => /shoal_tasks\{state="running"\} 10\b/.test(gauge), {
    step: () => void h.metrics.text().then((x) => (gauge = x)),
    last: () => gauge.split('\n').filter((l) => l.startsWith('shoal_tasks')),
  });

  // scale down to 3: the highest slots go
  await h.control.call('scaleService', { serviceId: web.id, replicas: 3 });
  await converged(h, web.id, 3, 'nginx:1', 'web scaled to 3');
  t.deepEqual(running(h, web.id).map((x) => x.slot).sort(), [1, 2, 3]);
  t.true(h.tasks(web.id).filter((x) => x.slot > 3).every((x) => x.desiredState >= TaskState.SHUTDOWN));

  // rolling update with parallelism 2
  await h.control.call('scaleService', { serviceId: web.id, replicas: 5 });
  await converged(h, web.id, 5, 'nginx:1', 'web scaled to 5');
  const before = h.tasks(web.id).map((x) => x.id);
  const cur = h.service(web.id);
  await h.control.call('updateService', { serviceId: web.id, serviceVersion: cur.meta!.version, spec: serviceSpec('web', 5, 'nginx:2', { parallelism: 2 }) });
  let maxInFlight = 0;
  await waitFor(
    'web update completed',
    () => {
      const ts = h.tasks(web.id);
      const inFlight = ts.filter((x) => imageOf(x) === 'nginx:2' && !isRunning(x) && x.desiredState <= TaskState.RUNNING).length;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return h.service(web.id).updateStatus?.state === UpdateState.COMPLETED;
    },
    { step: h.step, last: () => [h.service(web.id).updateStatus, summary(h, web.id)] },
  );
  await converged(h, web.id, 5, 'nginx:2', 'web running nginx:2 everywhere');
  t.true(maxInFlight <= 2, `at most 2 slots updated at once (saw ${maxInFlight})`);
  const created = h.tasks(web.id).filter((x) => !before.includes(x.id));
  const perSlot = new Map<number, number>();
  for (const x of created) perSlot.set(x.slot, (perSlot.get(x.slot) ?? 0) + 1);
  t.deepEqual([...perSlot.entries()].sort((a, b) => a[0] - b[0]), [1, 2, 3, 4, 5].map((s) => [s, 1]), 'each slot updated exactly once');

  // drain a node: its tasks move
  const victim = running(h, web.id)[0]!.nodeId;
  await h.state.update((tx) => {
    const n = tx.get('nodes', victim)!;
    tx.update('nodes', { ...n, spec: { ...n.spec!, availability: NodeAvailability.DRAIN } });
  });
  await waitFor('no runnable task left on the drained node', () => h.tasks(web.id).every((x) => x.nodeId !== victim || x.desiredState > TaskState.RUNNING), { step: h.step });
  await converged(h, web.id, 5, 'nginx:2', 'web back to 5 after the drain');
  t.true(running(h, web.id).every((x) => x.nodeId !== victim));

  // a deploy interrupted by a leader change
  const v = h.service(web.id);
  await h.control.call('updateService', { serviceId: web.id, serviceVersion: v.meta!.version, spec: serviceSpec('web', 5, 'nginx:3', { parallelism: 1 }) });
  await waitFor('the nginx:3 update under way', () => (h.service(web.id).updateStatus?.updated.length ?? 0) >= 2, { step: h.step });
  h.leadership.set({ leader: false, term: 1 });
  await h.loops.settled();
  t.is(h.loops.runningTerm, undefined);
  const writes = h.counting.commits;
  const frozen = h.service(web.id).updateStatus;
  for (let i = 0; i < 50; i++) {
    h.clock.advance(1000);
    await new Promise((r) => setTimeout(r, 2));
  }
  await h.control.call('scaleService', { serviceId: web.id, replicas: 6 });
  for (let i = 0; i < 20; i++) {
    h.clock.advance(1000);
    await new Promise((r) => setTimeout(r, 2));
  }
  t.is(h.counting.commits, writes, 'no loop writes after step-down');
  t.is(h.counting.afterStepDown, 0);
  t.deepEqual(h.service(web.id).updateStatus, frozen, 'the update did not move without a leader');

  h.leadership.set({ leader: true, term: 2 });
  await waitFor('the nginx:3 update completed under the new leader', () => h.service(web.id).updateStatus?.state === UpdateState.COMPLETED, {
    step: h.step,
    last: () => [h.service(web.id).updateStatus, summary(h, web.id)],
  });
  await converged(h, web.id, 6, 'nginx:3', 'web running 6 x nginx:3');
  for (const [slot, ts] of activeBySlot(h.tasks(web.id))) t.is(ts.length, 1, `slot ${slot} has one runnable task`);
  const v3 = h.tasks(web.id).filter((x) => imageOf(x) === 'nginx:3');
  const v3PerSlot = new Map<number, number>();
  for (const x of v3) v3PerSlot.set(x.slot, (v3PerSlot.get(x.slot) ?? 0) + 1);
  t.true([...v3PerSlot.values()].every((c) => c === 1), `no slot got two nginx:3 tasks: ${JSON.stringify([...v3PerSlot])}`);
  t.true(h.counting.commits > writes, 'the new generation wrote');
});

test('unschedulable tasks stay pending with the reason, and are placed when a node appears', async (t) => {
  const h = setup();
  t.teardown(() => h.loops.stop());
  await h.state.update((tx) => ensureCluster(tx, 'c1'));
  h.leadership.set({ leader: true, term: 1 });
  h.loops.start();
  const { service: s } = (await h.control.call('createService', { spec: serviceSpec('api', 2) })) as { service: Service };
  await waitFor('2 pending tasks with a reason', () => {
    const ts = h.tasks(s.id);
    return ts.length === 2 && ts.every((x) => x.status?.state === TaskState.PENDING && /no suitable node/.test(x.status.message));
  }, { step: h.step, last: () => summary(h, s.id) });
  await h.state.update((tx) => tx.create('nodes', workerNode('late')));
  await converged(h, s.id, 2, 'nginx:1', 'api placed on the new node');
  t.true(running(h, s.id).every((x) => x.nodeId === 'late'));
});

test('a failed task is restarted after its restart delay, on the injected clock', async (t) => {
  const h = setup();
  t.teardown(() => h.loops.stop());
  await h.state.update((tx) => {
    ensureCluster(tx, 'c1');
    tx.create('nodes', workerNode('n1'));
  });
  h.leadership.set({ leader: true, term: 1 });
  h.loops.start();
  const spec = serviceSpec('db', 1);
  spec.task!.restart = { condition: RestartCondition.RESTART_ANY, delay: msDuration(5_000), maxAttempts: 0, window: undefined };
  const { service: s } = (await h.control.call('createService', { spec })) as { service: Service };
  await converged(h, s.id, 1, 'nginx:1', 'db running');
  const victim = running(h, s.id)[0]!;
  const failedAt = h.clock.now();
  await h.state.update((tx) => {
    const cur = tx.get('tasks', victim.id)!;
    tx.update('tasks', { ...cur, status: { ...cur.status!, state: TaskState.FAILED, message: 'exit 1' } });
  });
  // without time passing, the replacement waits (desired READY)
  for (let i = 0; i < 30; i++) await new Promise((r) => setTimeout(r, 2));
  t.is(running(h, s.id).length, 0, 'not restarted before the delay');
  await converged(h, s.id, 1, 'nginx:1', 'db restarted after the delay');
  t.true(h.clock.now() - failedAt >= 5_000, `restarted after ${h.clock.now() - failedAt} ms`);
  t.is(running(h, s.id)[0]!.slot, victim.slot);
});

test('RollbackService rolls the tasks back to the previous spec through the updater', async (t) => {
  const h = setup();
  t.teardown(() => h.loops.stop());
  await h.state.update((tx) => {
    ensureCluster(tx, 'c1');
    for (const id of ['n1', 'n2']) tx.create('nodes', workerNode(id));
  });
  h.leadership.set({ leader: true, term: 1 });
  h.loops.start();
  const { service: s } = (await h.control.call('createService', { spec: serviceSpec('api', 3, 'app:1', { parallelism: 0 }) })) as { service: Service };
  await converged(h, s.id, 3, 'app:1', 'api running app:1');
  await h.control.call('updateService', { serviceId: s.id, serviceVersion: h.service(s.id).meta!.version, spec: serviceSpec('api', 3, 'app:2', { parallelism: 0 }) });
  await waitFor('update to app:2 completed', () => h.service(s.id).updateStatus?.state === UpdateState.COMPLETED, { step: h.step });
  await converged(h, s.id, 3, 'app:2', 'api running app:2');
  await h.control.call('rollbackService', { serviceId: s.id, serviceVersion: h.service(s.id).meta!.version });
  await waitFor('rollback completed', () => h.service(s.id).updateStatus?.state === UpdateState.ROLLBACK_COMPLETED, {
    step: h.step,
    last: () => [h.service(s.id).updateStatus, summary(h, s.id)],
  });
  await converged(h, s.id, 3, 'app:1', 'api back on app:1');
  t.is(h.service(s.id).previousSpec?.task?.container?.image, 'app:2');
});


/** each of the 3 services of 10 tasks runs 3/3/4 on the 3 nodes, and every node runs 10 in all */
function assertEvenSpread(t: ExecutionContext, h: ReturnType<typeof setup>, ids: string[]): void {
  const perNode = new Map<string, number>();
  for (const id of ids) {
    const mine = new Map<string, number>();
    for (const x of running(h, id)) mine.set(x.nodeId, (mine.get(x.nodeId) ?? 0) + 1);
    t.deepEqual([...mine.values()].sort(), [3, 3, 4], `service ${id} spread evenly`);
    for (const [n, c] of mine) perNode.set(n, (perNode.get(n) ?? 0) + c);
  }
  t.deepEqual([...perNode.values()].sort(), [10, 10, 10], 'all services together spread evenly');
}

test('small batches: services and placements are planned and written a slice at a time, spread still even', async (t) => {
  const h = setup(7);
  t.teardown(() => h.loops.stop());
  await h.state.update((tx) => {
    ensureCluster(tx, 'c1');
    for (const id of ['n1', 'n2', 'n3']) tx.create('nodes', workerNode(id));
  });
  // every state change of a task that the scheduler writes
  const moves = new Set<string>();
  h.state.subscribe((c) => {
    for (const ch of c.changes) {
      if (ch.table !== 'tasks' || ch.action !== 'update') continue;
      const [a, b] = [(ch.old as Task).status?.state ?? TaskState.NEW, (ch.object as Task).status?.state ?? TaskState.NEW];
      if (a !== b && b <= TaskState.ASSIGNED) moves.add(`${TaskState[a]}->${TaskState[b]}`);
    }
  });
  h.leadership.set({ leader: true, term: 1 });
  h.loops.start();
  const before = h.counting.commits;
  const ids: string[] = [];
  for (const name of ['a', 'b', 'c']) {
    const { service } = (await h.control.call('createService', { spec: serviceSpec(name, 10, 'nginx:1') })) as { service: Service };
    ids.push(service.id);
  }
  for (const id of ids) await converged(h, id, 10, 'nginx:1', `10 running tasks of ${id}`);
  assertEvenSpread(t, h, ids);
  // 30 tasks created (a plan of 10 per service: never two in a transaction of 7), then placed
  // straight from NEW, 7 at most per transaction
  t.true(h.counting.commits - before >= 3 + 5, `commits: ${h.counting.commits - before}`);
  t.deepEqual([...moves], ['NEW->ASSIGNED'], 'a task that fits is placed in one write, without a PENDING write before');
});

test('the orchestrator and the scheduler keep several transactions in flight, and placements stay even', async (t) => {
  const h = setup(7);
  t.teardown(() => h.loops.stop());
  // every write takes a few turns of the event loop to come back, as a raft commit does
  h.counting.latency = async () => {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  };
  await h.state.update((tx) => {
    ensureCluster(tx, 'c1');
    for (const id of ['n1', 'n2', 'n3']) tx.create('nodes', workerNode(id));
  });
  const ids: string[] = [];
  for (const name of ['a', 'b', 'c']) {
    const { service } = (await h.control.call('createService', { spec: serviceSpec(name, 10, 'nginx:1') })) as { service: Service };
    ids.push(service.id);
  }
  h.leadership.set({ leader: true, term: 1 });
  h.loops.start();
  for (const id of ids) await converged(h, id, 10, 'nginx:1', `10 running tasks of ${id}`);
  // 3 plans of 10 tasks (one per transaction of at most 7) and 30 placements (5 slices of 7)
  t.true(h.counting.maxInFlight.create >= 2, `task creates in flight at once: ${h.counting.maxInFlight.create}`);
  t.true(h.counting.maxInFlight.place >= 2 && h.counting.maxInFlight.place <= 4, `placements in flight at once: ${h.counting.maxInFlight.place}`);
  assertEvenSpread(t, h, ids);
  t.is(ids.flatMap((id) => h.tasks(id)).length, 30, 'no task created twice');
});
