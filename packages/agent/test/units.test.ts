// Unit tests of the small pieces: status reporter, assignment tracker, limiter, backoff, task db.
import test from 'ava';
import { AssignmentAction, AssignmentsType, TaskState, type AssignmentsMessage, type Task, type TaskStatus, type TaskStatusUpdate } from '@shoal/api';
import { AssignmentGapError, AssignmentTracker } from '../src/assignments.js';
import { backoffMs } from '../src/clock.js';
import { Limiter, PRIORITY } from '../src/limiter.js';
import { jsonLogger, silentLogger } from '../src/log.js';
import { StatusReporter } from '../src/reporter.js';
import { TaskDb } from '../src/taskdb.js';
import { tempDir } from './helpers/agent.js';
import { ManualClock } from './helpers/clock.js';
import { makeTask } from './helpers/tasks.js';

const st = (state: TaskState): TaskStatus => ({ state, message: '', err: '', health: 0, appliedBy: 'n' });
const tick = () => new Promise((r) => setImmediate(r));

test('reporter: after a quiet window the first changes go out at once (one RPC for the turn); later ones wait out the window', async (t) => {
  const clock = new ManualClock();
  const sent: TaskStatusUpdate[][] = [];
  const r = new StatusReporter({ clock, logger: silentLogger, windowMs: 50, send: async (u) => void sent.push(u) });
  r.report('a', st(TaskState.ACCEPTED));
  r.report('a', st(TaskState.PREPARING));
  r.report('b', st(TaskState.ACCEPTED));
  r.report('a', st(TaskState.READY));
  t.is(sent.length, 0, 'not sent synchronously: the rest of the turn joins the batch');
  clock.advance(0);
  await tick();
  t.is(sent.length, 1);
  t.deepEqual(sent[0]!.map((u) => [u.taskId, u.status?.state]), [['a', TaskState.READY], ['b', TaskState.ACCEPTED]]);
  // within the window of that send: coalesced until the window ends
  clock.advance(10);
  r.report('a', st(TaskState.STARTING));
  r.report('b', st(TaskState.PREPARING));
  r.report('a', st(TaskState.RUNNING));
  clock.advance(39);
  await tick();
  t.is(sent.length, 1);
  clock.advance(1);
  await tick();
  t.is(sent.length, 2);
  t.deepEqual(sent[1]!.map((u) => [u.taskId, u.status?.state]), [['a', TaskState.RUNNING], ['b', TaskState.PREPARING]]);
  // quiet for a whole window: the next change goes out at once again
  clock.advance(50);
  r.report('b', st(TaskState.READY));
  clock.advance(0);
  await tick();
  t.is(sent.length, 3);
  t.deepEqual(sent[2]!.map((u) => [u.taskId, u.status?.state]), [['b', TaskState.READY]]);
  t.is(r.pendingCount, 0);
});

test('reporter: a failed send keeps updates pending; kick() sends them; newer statuses win', async (t) => {
  const clock = new ManualClock();
  const sent: TaskStatusUpdate[][] = [];
  let up = false;
  const r = new StatusReporter({
    clock,
    logger: silentLogger,
    windowMs: 50,
    retryMs: 1000,
    send: async (u) => {
      if (!up) throw new Error('no session');
      sent.push(u);
    },
  });
  r.report('a', st(TaskState.RUNNING));
  clock.advance(50);
  await tick();
  t.is(r.pendingCount, 1);
  t.is(r.failedBatches, 1);
  r.report('a', st(TaskState.FAILED));
  up = true;
  r.kick();
  await tick();
  t.deepEqual(sent.map((b) => b.map((u) => u.status?.state)), [[TaskState.FAILED]]);
  t.is(r.pendingCount, 0);
});

test('reporter: retries on its own after a failure', async (t) => {
  const clock = new ManualClock();
  let calls = 0;
  const r = new StatusReporter({ clock, logger: silentLogger, windowMs: 10, retryMs: 500, send: async () => {
      if (calls++ === 0) throw new Error('x');
    },
  });
  r.report('a', st(TaskState.RUNNING));
  clock.advance(10);
  await tick();
  t.is(r.pendingCount, 1);
  clock.advance(499);
  await tick();
  t.is(calls, 1);
  clock.advance(1);
  await tick();
  t.is(calls, 2);
  t.is(r.pendingCount, 0);
});

function msg(type: AssignmentsType, appliesTo: number, resultsIn: number, update: Task[] = [], remove: string[] = []): AssignmentsMessage {
  return {
    type,
    appliesTo,
    resultsIn,
    changes: [
      ...update.map((task) => ({ assignment: { item: { $case: 'task' as const, task } }, action: AssignmentAction.ASSIGNMENT_UPDATE })),
      ...remove.map((id) => ({ assignment: { item: { $case: 'task' as const, task: makeTask(id) } }, action: AssignmentAction.ASSIGNMENT_REMOVE })),
    ],
  };
}

test('assignments: COMPLETE first, then INCREMENTAL chained by sequence numbers; a gap throws', (t) => {
  const tr = new AssignmentTracker();
  t.throws(() => tr.apply(msg(AssignmentsType.ASSIGNMENTS_INCREMENTAL, 0, 1)), { instanceOf: AssignmentGapError }, 'incremental before complete');
  const c = tr.apply(msg(AssignmentsType.ASSIGNMENTS_COMPLETE, 0, 5, [makeTask('a'), makeTask('b')]));
  t.deepEqual([c.complete, c.updated.map((x) => x.id), c.removed], [true, ['a', 'b'], []]);
  const i = tr.apply(msg(AssignmentsType.ASSIGNMENTS_INCREMENTAL, 5, 6, [makeTask('c')], ['a']));
  t.deepEqual([i.complete, i.updated.map((x) => x.id), i.removed], [false, ['c'], ['a']]);
  t.is(tr.seq, 6);
  t.throws(() => tr.apply(msg(AssignmentsType.ASSIGNMENTS_INCREMENTAL, 7, 8)), { message: /gap \(expected applies_to 6, got 7\)/ });
  tr.reset();
  t.is(tr.seq, undefined);
});

test('limiter: never more than `limit` at once, FIFO', async (t) => {
  const l = new Limiter(2);
  let active = 0;
  let peak = 0;
  const order: number[] = [];
  const gates: (() => void)[] = [];
  const runs = [0, 1, 2, 3, 4].map((i) =>
    l.run(async () => {
      active++;
      peak = Math.max(peak, active);
      order.push(i);
      await new Promise<void>((r) => gates.push(r));
      active--;
    }),
  );
  for (let k = 0; k < 5; k++) {
    await tick();
    gates.shift()?.();
  }
  await Promise.all(runs);
  t.is(peak, 2);
  t.deepEqual(order, [0, 1, 2, 3, 4]);
});

test('limiter: urgent runs wait ahead of the others, FIFO among themselves, within the same limit', async (t) => {
  const l = new Limiter(1);
  const order: string[] = [];
  let active = 0;
  let peak = 0;
  const gates: (() => void)[] = [];
  const job = (name: string) => async () => {
    active++;
    peak = Math.max(peak, active);
    order.push(name);
    await new Promise<void>((r) => gates.push(r));
    active--;
  };
  const runs = [
    l.run(job('prepare-a')),
    l.run(job('prepare-b')),
    l.run(job('prepare-c')),
    l.run(job('start-x'), { urgent: true }),
    l.run(job('start-y'), { urgent: true }),
  ];
  for (let k = 0; k < 5; k++) {
    await tick();
    gates.shift()?.();
  }
  await Promise.all(runs);
  t.is(peak, 1);
  t.deepEqual(order, ['prepare-a', 'start-x', 'start-y', 'prepare-b', 'prepare-c']);
});

test('limiter: a freed place goes to the highest priority, FIFO among equals; removals last', async (t) => {
  const l = new Limiter(1);
  const order: string[] = [];
  const gates: (() => void)[] = [];
  const job = (name: string) => async () => {
    order.push(name);
    await new Promise<void>((r) => gates.push(r));
  };
  const runs = [
    l.run(job('prepare-0')),
    l.run(job('remove-r'), { priority: PRIORITY.background }),
    l.run(job('prepare-a')),
    l.run(job('prepare-b'), { priority: PRIORITY.normal }),
    l.run(job('start-x'), { urgent: true }),
  ];
  t.is(l.queued, 4);
  for (let k = 0; k < 5; k++) {
    await tick();
    gates.shift()?.();
  }
  await Promise.all(runs);
  t.deepEqual(order, ['prepare-0', 'start-x', 'prepare-a', 'prepare-b', 'remove-r']);
  t.is(l.running, 0);
});

test('backoff: exponential with jitter, capped', (t) => {
  t.is(backoffMs(0, 100, 10_000, () => 0), 50);
  t.is(backoffMs(0, 100, 10_000, () => 1), 100);
  t.is(backoffMs(3, 100, 10_000, () => 1), 800);
  t.is(backoffMs(20, 100, 10_000, () => 1), 10_000);
  t.true(backoffMs(20, 100, 10_000, () => 0) >= 50);
});

test('task db: identity, manager list and task records survive a reopen', async (t) => {
  const dir = tempDir();
  const db = new TaskDb(dir);
  await db.open();
  await db.putIdentity({ nodeId: 'n1', role: 0, clusterId: 'c1' });
  await db.putManagers(['a:1', 'b:2']);
  const task = makeTask('t1', {}, { env: ['A=1'] });
  await db.putTask({ task, status: st(TaskState.RUNNING), handle: { taskId: 't1', containerId: 'c1', sandboxId: 's1' } });
  await db.putTask({ task: makeTask('t2'), status: st(TaskState.ACCEPTED) });
  await db.deleteTask('t2');
  await db.close();
  const again = new TaskDb(dir);
  await again.open();
  t.deepEqual(await again.getIdentity(), { nodeId: 'n1', role: 0, clusterId: 'c1' });
  t.deepEqual(await again.getManagers(), ['a:1', 'b:2']);
  const recs = await again.listTasks();
  t.is(recs.length, 1);
  t.deepEqual(recs[0]!.task, task);
  t.is(recs[0]!.status.state, TaskState.RUNNING);
  t.deepEqual(recs[0]!.handle, { taskId: 't1', containerId: 'c1', sandboxId: 's1' });
  await again.close();
});

test('task db in memory (no dataDir): same records as level, ordered by task id, a status copy per put', async (t) => {
  const db = new TaskDb(undefined);
  await db.open();
  t.is(await db.getIdentity(), undefined);
  await db.putIdentity({ nodeId: 'n1', role: 0, clusterId: 'c1' });
  await db.putManagers(['a:1']);
  const status = st(TaskState.RUNNING);
  await db.putTask({ task: makeTask('t2'), status: st(TaskState.ACCEPTED) });
  await db.putTask({ task: makeTask('t1'), status, handle: { taskId: 't1', containerId: 'c1', sandboxId: 's1' } });
  await db.putTask({ task: makeTask('t3'), status: st(TaskState.READY) });
  await db.deleteTask('t3');
  status.state = TaskState.FAILED; // the caller's object changing later does not change the record
  t.deepEqual(await db.getIdentity(), { nodeId: 'n1', role: 0, clusterId: 'c1' });
  t.deepEqual(await db.getManagers(), ['a:1']);
  const recs = await db.listTasks();
  t.deepEqual(recs.map((r) => [r.task.id, r.status.state]), [['t1', TaskState.RUNNING], ['t2', TaskState.ACCEPTED]]);
  t.deepEqual(recs[0]!.handle, { taskId: 't1', containerId: 'c1', sandboxId: 's1' });
  t.is((await db.getTask('t2'))?.task.id, 't2');
  t.is(await db.getTask('t3'), undefined);
  await db.close();
});

test('task db in memory: putTaskNow/deleteTaskNow apply before they return, in order with the async writes; a level db refuses them', async (t) => {
  const db = new TaskDb(undefined);
  await db.open();
  t.true(db.inMemory);
  db.putTaskNow({ task: makeTask('t1'), status: st(TaskState.ACCEPTED) });
  db.putTaskNow({ task: makeTask('t2'), status: st(TaskState.READY) });
  db.putTaskNow({ task: makeTask('t1'), status: st(TaskState.RUNNING) });
  db.deleteTaskNow('t2');
  await db.putTask({ task: makeTask('t3'), status: st(TaskState.STARTING) });
  t.deepEqual((await db.listTasks()).map((r) => [r.task.id, r.status.state]), [['t1', TaskState.RUNNING], ['t3', TaskState.STARTING]]);
  await db.close();

  const dir = await tempDir();
  const level = new TaskDb(dir);
  await level.open();
  t.false(level.inMemory);
  t.throws(() => level.putTaskNow({ task: makeTask('t1'), status: st(TaskState.ACCEPTED) }), { message: /not in memory/ });
  t.throws(() => level.deleteTaskNow('t1'), { message: /not in memory/ });
  await level.close();
});

test('json logger: children add their fields (later ones win), levels below the minimum write nothing, errors become messages', (t) => {
  const lines: Record<string, unknown>[] = [];
  const root = jsonLogger({ component: 'agent', hostname: 'h1' }, { level: 'info', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>), now: () => 0 });
  const task = root.child({ component: 'task' }).child({ taskId: 't1' });
  task.debug('hidden');
  task.info('started', { pid: 7 });
  root.warn('careful', { err: new Error('boom') });
  task.error('failed');
  t.deepEqual(lines, [
    { time: '1970-01-01T00:00:00.000Z', level: 'info', component: 'task', hostname: 'h1', taskId: 't1', msg: 'started', pid: 7 },
    { time: '1970-01-01T00:00:00.000Z', level: 'warn', component: 'agent', hostname: 'h1', msg: 'careful', err: 'boom' },
    { time: '1970-01-01T00:00:00.000Z', level: 'error', component: 'task', hostname: 'h1', taskId: 't1', msg: 'failed' },
  ]);
});
