import test from 'ava';
import {
  AssignmentAction,
  AssignmentsType,
  bindServer,
  createClient,
  createServer,
  DispatcherClient,
  NodeCAClient,
  NodeRole,
  NodeState,
  ShoalError,
  TaskState,
  type AssignmentsMessage,
  type SessionMessage,
  type Task,
} from '@shoal/api';
import { ensureCluster } from '../src/ca/cluster.js';
import { Dispatcher } from '../src/dispatcher/dispatcher.js';
import { MemoryState } from '../src/state/memory-state.js';
import { StoreState } from '../src/state/store-adapter.js';
import { Store } from '@shoal/store';
import { VirtualClock } from '../src/util/clock.js';

async function setup(t: { teardown(fn: () => unknown): void }) {
  const clock = new VirtualClock();
  const state = new MemoryState(clock);
  let n = 0;
  const cluster = await state.update((tx) => ensureCluster(tx, 'c1'));
  const d = new Dispatcher({ state, clock, newId: () => `id${++n}`, heartbeatPeriodMs: 5000, statusBatchMs: 50, statusBatchMax: 100 });
  d.start();
  const server = createServer();
  d.register(server);
  const port = await bindServer(server, '127.0.0.1:0');
  const ca = createClient(NodeCAClient, `127.0.0.1:${port}`);
  const disp = createClient(DispatcherClient, `127.0.0.1:${port}`);
  t.teardown(async () => {
    await d.stop();
    ca.close();
    disp.close();
    await new Promise<void>((r) => server.tryShutdown(() => r()));
  });
  const unary = <R>(c: unknown, m: string, req: unknown): Promise<R> =>
    new Promise((resolve, reject) => (c as Record<string, (r: unknown, cb: (e: unknown, r: unknown) => void) => void>)[m]!.call(c, req, (e, r) => (e ? reject(ShoalError.fromGrpc(e)) : resolve(r as R))));
  const register = (token: string, nodeId = '') => unary<{ nodeId: string; role: NodeRole }>(ca, 'issueNodeCertificate', { csr: Buffer.alloc(0), token, nodeId, hostname: 'h1', addr: '' });
  const openSession = (nodeId: string) =>
    new Promise<SessionMessage>((resolve, reject) => {
      const stream = disp.session({ nodeId, sessionId: '', dataPathAddr: '10.0.0.5' });
      stream.on('data', resolve);
      stream.on('error', (e) => reject(ShoalError.fromGrpc(e)));
      t.teardown(() => stream.cancel());
    });
  return { clock, state, d, cluster, disp, unary, register, openSession };
}

const until = async (what: string, cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('registration: worker and manager tokens, bad token, removed node refused', async (t) => {
  const { register, cluster, state } = await setup(t);
  const w = await register(cluster.rootCa!.joinTokens!.worker);
  t.is(w.role, NodeRole.WORKER);
  const m = await register(cluster.rootCa!.joinTokens!.manager);
  t.is(m.role, NodeRole.MANAGER);
  t.not(w.nodeId, m.nodeId);
  const bad = (await t.throwsAsync(register('SWMTKN-1-' + '0'.repeat(50) + '-' + '1'.repeat(25)))) as ShoalError;
  t.is(bad.code, 'PermissionDenied');
  await state.update((tx) => {
    const c = tx.all('cluster')[0]!;
    tx.update('cluster', { ...c, removedNodes: ['gone'] });
  });
  t.is(((await t.throwsAsync(register(cluster.rootCa!.joinTokens!.worker, 'gone'))) as ShoalError).code, 'PermissionDenied');
});

test('session marks READY; missed heartbeats mark the node DOWN and orphan its tasks (virtual clock)', async (t) => {
  const { register, cluster, state, openSession, clock, unary, disp } = await setup(t);
  const { nodeId } = await register(cluster.rootCa!.joinTokens!.worker);
  await state.update((tx) => tx.create('tasks', { id: 't1', serviceId: 's', slot: 1, nodeId, desiredState: TaskState.RUNNING, status: { state: TaskState.RUNNING, message: '', err: '', health: 0, appliedBy: nodeId }, networks: [], restartAttempt: 0 }));
  const first = await openSession(nodeId);
  t.truthy(first.sessionId);
  t.is(first.node!.status!.state, NodeState.NODE_READY);
  t.is(first.node!.dataPathAddr, '10.0.0.5');
  const hb = await unary<{ period: { seconds: number } }>(disp, 'heartbeat', { sessionId: first.sessionId, nodeId });
  t.is(hb.period.seconds, 5);
  clock.advance(14_000);
  await unary(disp, 'heartbeat', { sessionId: first.sessionId, nodeId });
  clock.advance(14_000); // 14 s since the last heartbeat: still within 3 periods
  t.is(state.view((tx) => tx.get('nodes', nodeId))!.status!.state, NodeState.NODE_READY);
  clock.advance(1_001);
  await until('node DOWN', () => state.view((tx) => tx.get('nodes', nodeId))!.status!.state === NodeState.NODE_DOWN);
  const task = state.view((tx) => tx.get('tasks', 't1'))!;
  t.is(task.status!.state, TaskState.ORPHANED);
  t.is(task.desiredState, TaskState.SHUTDOWN);
  const stale = (await t.throwsAsync(unary(disp, 'heartbeat', { sessionId: first.sessionId, nodeId }))) as ShoalError;
  t.is(stale.code, 'FailedPrecondition');
});

test('a new leader gives READY nodes without a session two TTLs to reconnect before marking them DOWN', async (t) => {
  const clock = new VirtualClock();
  const state = new MemoryState(clock);
  await state.update((tx) => ensureCluster(tx, 'c1'));
  await state.update((tx) =>
    tx.create('nodes', { id: 'n1', role: NodeRole.WORKER, dataPathAddr: '', status: { state: NodeState.NODE_READY, message: '', addr: '127.0.0.1' } }),
  );
  const d = new Dispatcher({ state, clock, newId: () => 'x', heartbeatPeriodMs: 5000 });
  d.start(); // as on gaining leadership after the old leader died with n1's session
  t.teardown(() => d.stop());
  clock.advance(29_000);
  await new Promise((r) => setTimeout(r, 20));
  t.is(state.view((tx) => tx.get('nodes', 'n1'))!.status!.state, NodeState.NODE_READY, 'still READY within 2 × 3 periods');
  clock.advance(1_001);
  await until('node DOWN', () => state.view((tx) => tx.get('nodes', 'n1'))!.status!.state === NodeState.NODE_DOWN);
  t.is(state.view((tx) => tx.get('nodes', 'n1'))!.status!.message, 'heartbeat failure');
});

test('assignments: full set then incremental changes with sequence numbers', async (t) => {
  const { register, cluster, state, openSession, disp } = await setup(t);
  const { nodeId } = await register(cluster.rootCa!.joinTokens!.worker);
  const task = (id: string, st: TaskState, desired = TaskState.RUNNING, secret = ''): Task => ({
    id,
    serviceId: 's',
    slot: 1,
    nodeId,
    desiredState: desired,
    status: { state: st, message: '', err: '', health: 0, appliedBy: '' },
    networks: [],
    restartAttempt: 0,
    spec: secret ? { container: { image: 'x', labels: {}, command: [], args: [], hostname: '', env: [], dir: '', user: '', groups: [], mounts: [], stopSignal: '', readOnly: false, sysctls: {}, capabilityAdd: [], capabilityDrop: [], ulimits: [], tty: false, openStdin: false, hosts: [], secrets: [{ secretId: secret, secretName: 'pw' }], configs: [], registryAuth: '' }, networks: [], forceUpdate: 0 } : undefined,
  });
  await state.update((tx) => {
    tx.create('secrets', { id: 'sec1', spec: { annotations: { name: 'pw', labels: {} }, data: Buffer.from('x') }, internal: false });
    tx.create('tasks', task('a', TaskState.ASSIGNED, TaskState.RUNNING, 'sec1'));
    tx.create('tasks', task('pending', TaskState.PENDING));
    tx.create('tasks', task('done', TaskState.COMPLETE, TaskState.SHUTDOWN));
    tx.create('tasks', { ...task('other', TaskState.ASSIGNED), nodeId: 'n2' });
  });
  const { sessionId } = await openSession(nodeId);
  const msgs: AssignmentsMessage[] = [];
  const stream = disp.assignments({ sessionId, nodeId });
  stream.on('data', (m: AssignmentsMessage) => msgs.push(m));
  stream.on('error', () => {});
  t.teardown(() => stream.cancel());
  await until('full set', () => msgs.length === 1);
  const full = msgs[0]!;
  t.is(full.type, AssignmentsType.ASSIGNMENTS_COMPLETE);
  const keys = (m: AssignmentsMessage) => m.changes.map((c) => `${c.action === AssignmentAction.ASSIGNMENT_REMOVE ? '-' : '+'}${c.assignment!.item!.$case}:${(c.assignment!.item as { task?: { id: string }; secret?: { id: string } }).task?.id ?? (c.assignment!.item as { secret?: { id: string } }).secret?.id}`).sort();
  t.deepEqual(keys(full), ['+secret:sec1', '+task:a']);
  await state.update((tx) => tx.update('tasks', { ...tx.get('tasks', 'pending')!, status: { state: TaskState.ASSIGNED, message: '', err: '', health: 0, appliedBy: '' } }));
  await until('incremental add', () => msgs.length === 2);
  t.is(msgs[1]!.type, AssignmentsType.ASSIGNMENTS_INCREMENTAL);
  t.is(msgs[1]!.appliesTo, full.resultsIn);
  t.deepEqual(keys(msgs[1]!), ['+task:pending']);
  await state.update((tx) => tx.delete('tasks', 'a'));
  await until('incremental remove', () => msgs.length === 3);
  t.is(msgs[2]!.appliesTo, msgs[1]!.resultsIn);
  t.deepEqual(keys(msgs[2]!), ['-secret:sec1', '-task:a']);
  await state.update((tx) => tx.update('tasks', { ...tx.get('tasks', 'other')!, desiredState: TaskState.SHUTDOWN }));
  await new Promise((r) => setTimeout(r, 50));
  t.is(msgs.length, 3, "another node's task changes send nothing");
});

test('task status updates are batched into few store transactions', async (t) => {
  const { register, cluster, state, openSession, disp, unary, clock, d } = await setup(t);
  const { nodeId } = await register(cluster.rootCa!.joinTokens!.worker);
  await state.update((tx) => {
    for (let i = 0; i < 20; i++) tx.create('tasks', { id: `t${i}`, serviceId: 's', slot: i + 1, nodeId, desiredState: TaskState.RUNNING, status: { state: TaskState.ASSIGNED, message: '', err: '', health: 0, appliedBy: '' }, networks: [], restartAttempt: 0 });
    tx.create('tasks', { id: 'foreign', serviceId: 's', slot: 99, nodeId: 'n2', desiredState: TaskState.RUNNING, status: { state: TaskState.ASSIGNED, message: '', err: '', health: 0, appliedBy: '' }, networks: [], restartAttempt: 0 });
  });
  const { sessionId } = await openSession(nodeId);
  const before = state.commits;
  const st = (s: TaskState) => ({ state: s, message: '', err: '', health: 0, appliedBy: '' });
  const calls = [];
  for (let i = 0; i < 20; i++) calls.push(unary(disp, 'updateTaskStatus', { sessionId, nodeId, updates: [{ taskId: `t${i}`, status: st(TaskState.RUNNING) }] }));
  calls.push(unary(disp, 'updateTaskStatus', { sessionId, nodeId, updates: [{ taskId: 'foreign', status: st(TaskState.FAILED) }, { taskId: 't0', status: st(TaskState.STARTING) }] }));
  await until('all 21 requests queued in the batcher', () => d.statusRequestsWaiting === 21, 60_000);
  t.is(clock.pending >= 1, true, 'the batch window is armed');
  clock.advance(50);
  await Promise.all(calls);
  t.is(state.commits - before, 1, 'one store transaction for 21 requests');
  const tasks = state.view((tx) => tx.all('tasks'));
  t.is(tasks.filter((x) => x.status?.state === TaskState.RUNNING).length, 20);
  t.is(tasks.find((x) => x.id === 'foreign')!.status!.state, TaskState.ASSIGNED, 'a node cannot report on another node\'s task');
});

test('assignments: a status-only change is not echoed; a desired-state change reaches only its node; one store subscription for all streams', async (t) => {
  const { register, cluster, state, openSession, disp } = await setup(t);
  let subscriptions = 0;
  const subscribe = state.subscribe.bind(state);
  state.subscribe = (cb) => {
    subscriptions++;
    return subscribe(cb);
  };
  const token = cluster.rootCa!.joinTokens!.worker;
  const nodes = [(await register(token)).nodeId, (await register(token)).nodeId];
  const st = (s: TaskState) => ({ state: s, message: '', err: '', health: 0, appliedBy: '' });
  await state.update((tx) => {
    for (const [i, nodeId] of nodes.entries()) tx.create('tasks', { id: `t${i}`, serviceId: 's', slot: i + 1, nodeId, desiredState: TaskState.RUNNING, status: st(TaskState.ASSIGNED), networks: [], restartAttempt: 0 });
  });
  const msgs = new Map<string, AssignmentsMessage[]>();
  for (const nodeId of nodes) {
    const { sessionId } = await openSession(nodeId);
    const got: AssignmentsMessage[] = [];
    msgs.set(nodeId, got);
    const stream = disp.assignments({ sessionId, nodeId });
    stream.on('data', (m: AssignmentsMessage) => got.push(m));
    stream.on('error', () => {});
    t.teardown(() => stream.cancel());
  }
  await until('both full sets', () => nodes.every((n) => msgs.get(n)!.length === 1));
  t.is(subscriptions, 0, 'the streams share the dispatcher\'s subscription');
  // the agent reports its progress: nothing goes back to it
  for (const s of [TaskState.ACCEPTED, TaskState.STARTING, TaskState.RUNNING]) {
    await state.update((tx) => tx.update('tasks', { ...tx.get('tasks', 't0')!, status: st(s) }));
  }
  // the orchestrator stops t0: only node 0 hears of it
  await state.update((tx) => tx.update('tasks', { ...tx.get('tasks', 't0')!, desiredState: TaskState.SHUTDOWN }));
  await until('the desired-state change', () => msgs.get(nodes[0]!)!.length === 2);
  await new Promise((r) => setTimeout(r, 50));
  const m0 = msgs.get(nodes[0]!)!;
  t.is(m0.length, 2, 'status updates sent nothing');
  const item = m0[1]!.changes[0]!.assignment!.item as { $case: 'task'; task: Task };
  t.is(item.task.desiredState, TaskState.SHUTDOWN);
  t.is(msgs.get(nodes[1]!)!.length, 1, 'the other node heard nothing');
});

test('a heartbeat expiry that fires more than a period late (this process stalled) gives the node one more period', async (t) => {
  // time jumps without timers firing (a stalled event loop), then the due ones fire, late
  class StallClock {
    t = 1_700_000_000_000;
    private timers = new Set<{ at: number; fn: () => void }>();
    now(): number {
      return this.t;
    }
    setTimer(ms: number, fn: () => void): { cancel(): void } {
      const e = { at: this.t + ms, fn };
      this.timers.add(e);
      return { cancel: () => void this.timers.delete(e) };
    }
    stallThenRun(ms: number): void {
      this.t += ms;
      for (const e of [...this.timers].sort((a, b) => a.at - b.at)) {
        if (e.at > this.t || !this.timers.has(e)) continue;
        this.timers.delete(e);
        e.fn();
      }
    }
  }
  const clock = new StallClock();
  const state = new MemoryState(new VirtualClock());
  await state.update((tx) => ensureCluster(tx, 'c1'));
  await state.update((tx) => tx.create('nodes', { id: 'n1', role: NodeRole.WORKER, dataPathAddr: '', status: { state: NodeState.NODE_READY, message: '', addr: '127.0.0.1' } }));
  const d = new Dispatcher({ state, clock, newId: () => 'x', heartbeatPeriodMs: 5000 });
  d.start(); // n1 has 2 × 15 s to open a session
  t.teardown(() => d.stop());
  const nodeState = (): NodeState | undefined => state.view((tx) => tx.get('nodes', 'n1'))?.status?.state;
  clock.stallThenRun(40_000); // due at 30 s, fires at 40 s: 10 s late
  await new Promise((r) => setTimeout(r, 20));
  t.is(nodeState(), NodeState.NODE_READY, 'not called down on a timer that fired late');
  clock.stallThenRun(5_000); // the extra period passes on time, still no session
  await until('node DOWN', () => nodeState() === NodeState.NODE_DOWN);
  t.is(state.view((tx) => tx.get('nodes', 'n1'))!.status!.message, 'heartbeat failure');
});

/**
 * A dispatcher over a real store with one worker n1 in session, recording the assignment messages
 * it streams to n1; `task(id)` is a task desired RUNNING, ASSIGNED to `nodeId`; `ids(m)` the task
 * ids a message changes.
 */
async function assignmentStream(t: { teardown(fn: () => unknown): void }, opts: { clock?: VirtualClock; assignmentBatchMs?: number } = {}) {
  let n = 0;
  const state = new StoreState(new Store({ clock: () => 1_700_000_000_000, newId: () => `x${++n}` }));
  await state.update((tx) => ensureCluster(tx, 'c1'));
  await state.update((tx) => tx.create('nodes', { id: 'n1', role: NodeRole.WORKER, dataPathAddr: '', status: { state: NodeState.NODE_UNKNOWN, message: '', addr: '127.0.0.1' } }));
  const d = new Dispatcher({
    state,
    clock: opts.clock ?? new VirtualClock(),
    newId: () => `id${++n}`,
    heartbeatPeriodMs: 5000,
    ...(opts.assignmentBatchMs === undefined ? {} : { assignmentBatchMs: opts.assignmentBatchMs }),
  });
  d.start();
  t.teardown(() => d.stop());
  const { sessionId } = await d.openSession({ nodeId: 'n1', sessionId: '', dataPathAddr: '' }, () => {});
  const sent: AssignmentsMessage[] = [];
  const stop = d.streamAssignments({ nodeId: 'n1', sessionId }, (m) => sent.push(m));
  t.teardown(stop);
  const st = (s: TaskState) => ({ state: s, message: '', err: '', health: 0, appliedBy: '' });
  const task = (id: string, nodeId = 'n1'): Task => ({ id, serviceId: 's', slot: 1, nodeId, desiredState: TaskState.RUNNING, status: st(TaskState.ASSIGNED), networks: [], restartAttempt: 0 });
  const ids = (m: AssignmentsMessage) => m.changes.map((c) => (c.assignment!.item as { task: Task }).task.id);
  return { state, sent, task, ids };
}

test('assignments: commits delivered together reach a node as one message, the latest change of a task winning; a later commit is a message of its own', async (t) => {
  const { state, sent, task, ids } = await assignmentStream(t);
  t.is(sent.length, 1, 'the full set');
  // three placements proposed back to back (the scheduler's slices in flight), then t1 told to stop
  await Promise.all([
    state.update((tx) => tx.create('tasks', task('t1'))),
    state.update((tx) => tx.create('tasks', task('t2'))),
    state.update((tx) => tx.create('tasks', task('t3', 'n2'))),
  ]);
  await state.update((tx) => tx.update('tasks', { ...tx.get('tasks', 't1')!, desiredState: TaskState.SHUTDOWN }));
  await until('two incremental messages', () => sent.length === 3);
  t.deepEqual(ids(sent[1]!), ['t1', 't2'], 'the commits applied together: one message');
  t.is(sent[1]!.appliesTo, sent[0]!.resultsIn);
  t.deepEqual(ids(sent[2]!), ['t1']);
  t.is((sent[2]!.changes[0]!.assignment!.item as { task: Task }).task.desiredState, TaskState.SHUTDOWN);
  t.is(sent[2]!.appliesTo, sent[1]!.resultsIn);
  await new Promise((r) => setTimeout(r, 20));
  t.is(sent.length, 3);
});

test('assignments with a batching window: a change after a quiet window goes out at once, later ones within the window wait for its end and go out together', async (t) => {
  const clock = new VirtualClock();
  const { state, sent, task, ids } = await assignmentStream(t, { clock, assignmentBatchMs: 50 });
  await state.update((tx) => tx.create('tasks', task('t1')));
  await until('the first change, at once', () => sent.length === 2);
  t.deepEqual(ids(sent[1]!), ['t1']);
  await state.update((tx) => tx.create('tasks', task('t2')));
  await state.update((tx) => tx.create('tasks', task('t3')));
  await new Promise((r) => setTimeout(r, 30));
  t.is(sent.length, 2, 'within the window: held');
  clock.advance(50);
  await until('the window ended', () => sent.length === 3);
  t.deepEqual(ids(sent[2]!), ['t2', 't3'], 'one message for both');
  t.is(sent[2]!.appliesTo, sent[1]!.resultsIn);
  clock.advance(60);
  await state.update((tx) => tx.create('tasks', task('t4')));
  await until('a change after a quiet window, at once', () => sent.length === 4);
  t.deepEqual(ids(sent[3]!), ['t4']);
});
