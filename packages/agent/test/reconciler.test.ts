// The reconciler with a fake runtime: bounded concurrency, stray containers after a lost db write.
import test from 'ava';
import { TaskState, type TaskStatus } from '@shoal/api';
import type { ContainerHandle, TaskContainerSpec } from '@shoal/runtime';
import { silentLogger } from '../src/log.js';
import { Reconciler } from '../src/reconciler.js';
import { TaskDb } from '../src/taskdb.js';
import { tempDir } from './helpers/agent.js';
import { ManualClock } from './helpers/clock.js';
import { FakeRuntime } from './helpers/fake-runtime.js';
import { makeTask } from './helpers/tasks.js';
import { waitFor } from './helpers/wait.js';

class GatedRuntime extends FakeRuntime {
  active = 0;
  peak = 0;
  gates: (() => void)[] = [];
  /** task ids in the order their prepare began */
  began: string[] = [];
  override async prepare(spec: TaskContainerSpec): Promise<ContainerHandle> {
    this.began.push(spec.taskId);
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    await new Promise<void>((r) => this.gates.push(r));
    this.active--;
    return super.prepare(spec);
  }
}

async function setup(runtime: FakeRuntime, maxConcurrent = 8) {
  const db = new TaskDb(tempDir());
  await db.open();
  const reported = new Map<string, TaskStatus>();
  const rec = new Reconciler({
    runtime,
    clock: new ManualClock(),
    db,
    logger: silentLogger,
    nodeId: () => 'node-1',
    maxConcurrent,
    onStatus: (id, s) => reported.set(id, s),
  });
  return { db, rec, reported };
}

test('prepare/start run at most maxConcurrent at once', async (t) => {
  const runtime = new GatedRuntime();
  runtime.images.add('busybox:1');
  const { db, rec, reported } = await setup(runtime, 2);
  const ids = ['a', 'b', 'c', 'd', 'e'];
  await rec.apply({ complete: true, updated: ids.map((id) => makeTask(id)), removed: [] });
  await waitFor('all 5 tasks waiting to prepare or preparing', () => runtime.gates.length === 2 && ids.every((id) => reported.get(id)?.state === TaskState.PREPARING));
  t.is(runtime.active, 2);
  while (ids.some((id) => reported.get(id)?.state !== TaskState.RUNNING)) {
    runtime.gates.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  t.is(runtime.peak, 2);
  await rec.close();
  await db.close();
});

test('a task desired READY is prepared but not started by the agent on its own', async (t) => {
  const runtime = new GatedRuntime();
  runtime.images.add('busybox:1');
  const { db, rec, reported } = await setup(runtime, 1);
  await rec.apply({ complete: true, updated: [makeTask('new-1', { slot: 1, desiredState: TaskState.READY })], removed: [] });
  await waitFor('new-1 preparing', () => runtime.gates.length === 1);
  runtime.gates.shift()!();
  await waitFor('new-1 prepared', () => reported.get('new-1')?.state === TaskState.READY);
  await new Promise((r) => setTimeout(r, 50));
  t.is(reported.get('new-1')?.state, TaskState.READY);
  await rec.close();
  await db.close();
});

test('a container without a task record is adopted if assigned, removed if not', async (t) => {
  const runtime = new FakeRuntime();
  // Containers left by an agent whose db write was lost.
  const spec = (taskId: string): TaskContainerSpec => ({ taskId, serviceId: 'svc1', serviceName: 'web', slot: 1, nodeId: 'node-1', image: 'busybox:1' });
  const h1 = await runtime.prepare(spec('kept'));
  await runtime.start(h1);
  const h2 = await runtime.prepare(spec('gone'));
  await runtime.start(h2);
  runtime.calls.length = 0;
  const { db, rec, reported } = await setup(runtime);
  await rec.restore();
  t.is(rec.controllers.length, 0);
  await rec.apply({ complete: true, updated: [makeTask('kept', { status: { state: TaskState.RUNNING } })], removed: [] });
  await waitFor('the unassigned stray container removed', () => runtime.calls.includes('remove:gone'));
  t.is(rec.controller('kept')?.handle?.containerId, h1.containerId);
  t.is(reported.get('kept')?.state, TaskState.RUNNING);
  t.false(runtime.calls.includes('start:kept'), 'the adopted container was not restarted');
  await waitFor('the runtime pruned leftovers, sparing the assigned task', () => runtime.prunes.length === 1);
  t.deepEqual(runtime.prunes, [['kept']]);
  await rec.apply({ complete: true, updated: [makeTask('kept', { status: { state: TaskState.RUNNING } })], removed: [] });
  t.is(runtime.prunes.length, 1, 'pruned once, after the first complete assignment set');
  await rec.close();
  await db.close();
});

class CountingRuntime extends FakeRuntime {
  inspects = 0;
  lists = 0;
  override async inspect(h: ContainerHandle): ReturnType<FakeRuntime['inspect']> {
    this.inspects++;
    return super.inspect(h);
  }
  override async list(): ReturnType<FakeRuntime['list']> {
    this.lists++;
    return super.list();
  }
}

/** A reconciler on a CountingRuntime with busybox:1 present and a manual clock; `reported` holds each task's last status. */
async function countingReconciler(opts: { pollIntervalMs: number; startCheckMs?: number }) {
  const runtime = new CountingRuntime();
  runtime.images.add('busybox:1');
  const clock = new ManualClock();
  const db = new TaskDb(tempDir());
  await db.open();
  const reported = new Map<string, TaskStatus>();
  const rec = new Reconciler({ runtime, clock, db, logger: silentLogger, nodeId: () => 'node-1', ...opts, onStatus: (id, s) => reported.set(id, s) });
  const close = async (): Promise<void> => {
    await rec.close();
    await db.close();
  };
  return { runtime, clock, reported, rec, close };
}

test('a container that exits as soon as it started is reported FAILED at the check startCheckMs after its RUNNING, not at the next poll', async (t) => {
  const { runtime, clock, reported, rec, close } = await countingReconciler({ pollIntervalMs: 10_000, startCheckMs: 200 });
  await rec.apply({ complete: true, updated: [makeTask('a')], removed: [] });
  await waitFor('a RUNNING', () => reported.get('a')?.state === TaskState.RUNNING);
  runtime.exit('a', 1);
  const lists = runtime.lists;
  clock.advance(150);
  for (let j = 0; j < 3; j++) await new Promise((r) => setImmediate(r));
  t.is(runtime.lists, lists, 'no list before startCheckMs');
  t.is(reported.get('a')?.state, TaskState.RUNNING);
  clock.advance(60);
  await waitFor('a reported FAILED with its exit code', () => reported.get('a')?.state === TaskState.FAILED, 10_000, () => Object.fromEntries(reported));
  t.is(reported.get('a')?.container?.exitCode, 1);
  t.is(runtime.lists, lists + 1, 'one list for the check');
  await close();
});

test('running containers are watched with one runtime list per poll interval, not an inspect per task; an exit is found and reported', async (t) => {
  const { runtime, clock, reported, rec, close } = await countingReconciler({ pollIntervalMs: 1000 });
  const ids = ['a', 'b', 'c'];
  await rec.apply({ complete: true, updated: ids.map((id) => makeTask(id)), removed: [] });
  await waitFor('3 tasks RUNNING', () => ids.every((id) => reported.get(id)?.state === TaskState.RUNNING));
  // past the check that follows a start (startCheckMs), which lists once more
  clock.advance(250);
  for (let j = 0; j < 3; j++) await new Promise((r) => setImmediate(r));
  const inspects = runtime.inspects;
  const lists = runtime.lists;
  // 5 s of virtual time in 100 ms steps, letting each poll finish before time moves on
  for (let i = 0; i < 50; i++) {
    clock.advance(100);
    for (let j = 0; j < 3; j++) await new Promise((r) => setImmediate(r));
  }
  t.true(runtime.lists - lists >= 4 && runtime.lists - lists <= 5, `one list per second (${runtime.lists - lists} in 5 s)`);
  t.is(runtime.inspects, inspects, 'no inspect of a container the list shows running');
  runtime.exit('b', 3);
  clock.advance(1000);
  await waitFor('b reported FAILED with its exit code', () => reported.get('b')?.state === TaskState.FAILED, 10_000, () => Object.fromEntries(reported));
  t.is(reported.get('b')?.container?.exitCode, 3);
  t.is(reported.get('a')?.state, TaskState.RUNNING);
  t.is(reported.get('c')?.state, TaskState.RUNNING);
  await close();
});
