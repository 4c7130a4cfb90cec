import test from 'ava';
import { HealthState, ShoalError, TaskState, type Task } from '@shoal/api';
import { TaskController, type StepResult } from '../src/controller.js';
import { Limiter } from '../src/limiter.js';
import { silentLogger } from '../src/log.js';
import { ManualClock } from './helpers/clock.js';
import { FakeRuntime } from './helpers/fake-runtime.js';
import { makeTask } from './helpers/tasks.js';

function setup(task: Task = makeTask('t1'), opts: { pollIntervalMs?: number } = {}) {
  const runtime = new FakeRuntime();
  const clock = new ManualClock();
  const changes: TaskState[] = [];
  const ctl = new TaskController(
    { task },
    {
      runtime,
      clock,
      nodeId: 'node-1',
      logger: silentLogger,
      limiter: new Limiter(2),
      pollIntervalMs: opts.pollIntervalMs ?? 1000,
      onChange: (c) => changes.push(c.status.state),
      random: () => 0.5,
    },
  );
  return { runtime, clock, ctl, changes };
}

async function stepUntil(ctl: TaskController, state: TaskState, max = 20): Promise<void> {
  for (let i = 0; i < max && ctl.state !== state; i++) await ctl.step();
  if (ctl.state !== state) throw new Error(`did not reach ${TaskState[state]}, at ${TaskState[ctl.state]}`);
}

const S = TaskState;

test('each step advances exactly one state: ASSIGNED → … → RUNNING, pulling a missing image', async (t) => {
  const { runtime, ctl, changes } = setup();
  const seen: TaskState[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await ctl.step();
    t.deepEqual(r, { kind: 'progress' });
    seen.push(ctl.state);
  }
  t.deepEqual(seen, [S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING]);
  t.deepEqual(changes, seen);
  t.deepEqual(runtime.calls, ['imageExists:busybox:1', 'pull:busybox:1', 'prepare:t1', 'start:t1']);
  t.is(ctl.status.container?.containerId, 'c1');
  t.is(ctl.status.container?.pid, 4242);
  t.is(ctl.status.appliedBy, 'node-1');
  t.is(ctl.status.err, '');
  t.truthy(ctl.status.timestamp);
  // RUNNING with nothing to do: wait for the poll interval.
  t.deepEqual(await ctl.step(), { kind: 'wait', ms: 1000 });
});

test('an image already present is not pulled', async (t) => {
  const { runtime, ctl } = setup();
  runtime.images.add('busybox:1');
  await stepUntil(ctl, S.RUNNING);
  t.is(runtime.count('pull:'), 0);
});

test('exit 0 → COMPLETE; non-zero exit → FAILED with the exit code', async (t) => {
  const a = setup(makeTask('ok'));
  await stepUntil(a.ctl, S.RUNNING);
  a.runtime.exit('ok', 0);
  t.deepEqual(await a.ctl.step(), { kind: 'progress' });
  t.is(a.ctl.state, S.COMPLETE);
  t.is(a.ctl.status.err, '');
  t.is(a.ctl.status.container?.exitCode, 0);
  t.deepEqual(await a.ctl.step(), { kind: 'wait' });

  const b = setup(makeTask('bad'));
  await stepUntil(b.ctl, S.RUNNING);
  b.runtime.exit('bad', 3);
  await b.ctl.step();
  t.is(b.ctl.state, S.FAILED);
  t.is(b.ctl.status.err, 'task: non-zero exit (3)');
  t.is(b.ctl.status.container?.exitCode, 3);
});

test('a prepare error rejects the task with a readable message', async (t) => {
  const { runtime, ctl } = setup();
  runtime.fail('prepare', new ShoalError('InvalidArgument', 'prepare: image "busybox:1" has no command'));
  await stepUntil(ctl, S.PREPARING);
  await ctl.step();
  t.is(ctl.state, S.REJECTED);
  t.is(ctl.status.err, 'prepare: image "busybox:1" has no command');
  t.deepEqual(await ctl.step(), { kind: 'wait' });
});

test('a pull error rejects the task', async (t) => {
  const { runtime, ctl } = setup();
  runtime.fail('pull', new ShoalError('NotFound', 'pull: busybox:1: not found'));
  await stepUntil(ctl, S.PREPARING);
  await ctl.step();
  t.is(ctl.state, S.REJECTED);
  t.is(ctl.status.err, 'pull: busybox:1: not found');
});

test('the pull uses the registry credentials of the spec (Docker X-Registry-Auth encoding); undecodable ones reject the task', async (t) => {
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const { runtime, ctl } = setup(makeTask('t1', {}, { registryAuth: enc({ username: 'u', password: 'p', serveraddress: 'reg:5000' }) }));
  await stepUntil(ctl, S.READY);
  t.deepEqual(runtime.pullAuths, [{ username: 'u', password: 'p', serverAddress: 'reg:5000' }]);

  const bad = setup(makeTask('t2', {}, { registryAuth: 'not json' }));
  await stepUntil(bad.ctl, S.PREPARING);
  await bad.ctl.step();
  t.is(bad.ctl.state, S.REJECTED);
  t.regex(bad.ctl.status.err, /^registry_auth: not base64 JSON/);
  t.is(bad.runtime.count('pull:'), 0);
});

test('a start error fails the task', async (t) => {
  const { runtime, ctl } = setup();
  runtime.fail('start', new Error('start: exec: "nope": executable file not found'));
  await stepUntil(ctl, S.STARTING);
  await ctl.step();
  t.is(ctl.state, S.FAILED);
  t.is(ctl.status.err, 'start: exec: "nope": executable file not found');
});

test('a retryable runtime error is retried after a backoff, shown in status.err meanwhile', async (t) => {
  const { runtime, ctl } = setup();
  runtime.fail('prepare', new ShoalError('Unavailable', 'prepare: containerd is not reachable'));
  await stepUntil(ctl, S.PREPARING);
  const r = await ctl.step();
  t.is(r.kind, 'wait');
  t.true(((r as { ms?: number }).ms ?? 0) > 0);
  t.is(ctl.state, S.PREPARING);
  t.is(ctl.status.err, 'prepare: containerd is not reachable');
  await ctl.step();
  t.is(ctl.state, S.READY);
  t.is(ctl.status.err, '');
});

test('retryable errors become fatal after maxRetries', async (t) => {
  const { runtime, ctl } = setup();
  for (let i = 0; i < 6; i++) runtime.fail('prepare', new ShoalError('Unavailable', 'prepare: down'));
  await stepUntil(ctl, S.PREPARING);
  for (let i = 0; i < 5; i++) t.is((await ctl.step()).kind, 'wait');
  await ctl.step();
  t.is(ctl.state, S.REJECTED);
});

test('desired SHUTDOWN stops with the spec signal and grace period, then REMOVE removes', async (t) => {
  const task = makeTask('t1', {}, { stopSignal: 'SIGUSR1', stopGracePeriod: { seconds: 3 } });
  const { runtime, ctl } = setup(task);
  await stepUntil(ctl, S.RUNNING);
  ctl.update({ ...task, desiredState: S.SHUTDOWN });
  t.deepEqual(await ctl.step(), { kind: 'progress' });
  t.is(ctl.state, S.SHUTDOWN);
  t.deepEqual(runtime.stops, [{ taskId: 't1', opts: { signal: 'SIGUSR1', graceMs: 3000 } }]);
  t.is(ctl.status.container?.exitCode, 143);
  t.is(runtime.count('remove:'), 0, 'the container is kept until it is removed');
  t.deepEqual(await ctl.step(), { kind: 'wait' });
  ctl.update({ ...task, desiredState: S.REMOVE });
  t.deepEqual(await ctl.step(), { kind: 'progress' });
  t.is(runtime.count('remove:'), 1);
  t.is(ctl.handle, undefined);
  t.is(runtime.containers.size, 0);
});

test('an unassigned running task is stopped, removed, then done', async (t) => {
  const { runtime, ctl } = setup();
  await stepUntil(ctl, S.RUNNING);
  ctl.unassigned = true;
  await ctl.step();
  t.is(ctl.state, S.SHUTDOWN);
  await ctl.step();
  t.deepEqual(runtime.calls.slice(-2), ['stop:t1', 'remove:t1']);
  t.deepEqual(await ctl.step(), { kind: 'done' });
});

test('shutdown before prepare makes no runtime call', async (t) => {
  const task = makeTask('t1');
  const { runtime, ctl } = setup(task);
  await ctl.step();
  ctl.update({ ...task, desiredState: S.SHUTDOWN });
  await ctl.step();
  t.is(ctl.state, S.SHUTDOWN);
  t.deepEqual(runtime.calls, []);
});

test('desired READY prepares but does not start', async (t) => {
  const task = makeTask('t1', { desiredState: S.READY });
  const { runtime, ctl } = setup(task);
  await stepUntil(ctl, S.READY);
  t.deepEqual(await ctl.step(), { kind: 'wait' });
  t.is(runtime.count('start:'), 0);
  ctl.update({ ...task, desiredState: S.RUNNING });
  await stepUntil(ctl, S.RUNNING);
  t.is(runtime.count('start:'), 1);
});

test('stop errors are retried; NotFound on stop counts as stopped', async (t) => {
  const task = makeTask('t1');
  const { runtime, ctl } = setup(task);
  await stepUntil(ctl, S.RUNNING);
  ctl.update({ ...task, desiredState: S.SHUTDOWN });
  runtime.fail('stop', new ShoalError('Internal', 'stop: boom'));
  t.is((await ctl.step()).kind, 'wait');
  t.is(ctl.state, S.RUNNING);
  t.is(ctl.status.err, 'stop: stop: boom');
  runtime.fail('stop', new ShoalError('NotFound', 'stop: gone'));
  await ctl.step();
  t.is(ctl.state, S.SHUTDOWN);
});

test('a container that vanished while running fails the task', async (t) => {
  const { runtime, ctl } = setup();
  await stepUntil(ctl, S.RUNNING);
  runtime.containers.clear();
  await ctl.step();
  t.is(ctl.state, S.FAILED);
  t.is(ctl.status.err, 'task: container not found');
});

const healthy = { exitCode: 0, stdout: 'ok', stderr: '' };
const sick = { exitCode: 1, stdout: '', stderr: 'connection refused' };

test('health: STARTING → HEALTHY → UNHEALTHY after `retries` failures → FAILED and stopped', async (t) => {
  const task = makeTask('t1', {}, { healthcheck: { test: ['CMD-SHELL', 'curl -f localhost'], interval: { seconds: 10 }, timeout: { seconds: 2 }, retries: 2 } });
  const { runtime, clock, ctl } = setup(task, { pollIntervalMs: 60_000 });
  await stepUntil(ctl, S.RUNNING);
  t.is(ctl.status.health, HealthState.HEALTH_STARTING);
  // not due yet: wait until the first probe
  t.deepEqual(await ctl.step(), { kind: 'wait', ms: 10_000 });
  t.is(runtime.execs.length, 0);
  runtime.execResults.push(healthy, sick, sick);
  clock.advance(10_000);
  await ctl.step();
  t.deepEqual(runtime.execs[0], ['/bin/sh', '-c', 'curl -f localhost']);
  t.is(ctl.status.health, HealthState.HEALTHY);
  clock.advance(10_000);
  await ctl.step();
  t.is(ctl.state, S.RUNNING, 'one failure is not enough');
  t.is(ctl.status.health, HealthState.HEALTHY);
  clock.advance(10_000);
  await ctl.step();
  t.is(ctl.state, S.FAILED);
  t.is(ctl.status.err, 'task: unhealthy container');
  t.is(ctl.status.health, HealthState.UNHEALTHY);
  t.is(runtime.count('stop:'), 1);
});

test('health: failures inside the start period do not count; exec errors count as failures', async (t) => {
  const task = makeTask('t1', {}, { healthcheck: { test: ['CMD', 'check'], interval: { seconds: 1 }, retries: 1, startPeriod: { seconds: 5 } } });
  const { runtime, clock, ctl } = setup(task, { pollIntervalMs: 60_000 });
  await stepUntil(ctl, S.RUNNING);
  runtime.execResults.push(sick, sick, sick, new Error('exec: timeout'));
  for (let i = 0; i < 3; i++) {
    clock.advance(1000);
    await ctl.step();
    t.is(ctl.state, S.RUNNING);
    t.is(ctl.status.health, HealthState.HEALTH_STARTING);
  }
  t.deepEqual(runtime.execs[0], ['check']);
  clock.advance(3000); // past the start period
  await ctl.step();
  t.is(ctl.state, S.FAILED);
  t.is(ctl.status.err, 'task: unhealthy container');
});

test('health: NONE disables the check', async (t) => {
  const task = makeTask('t1', {}, { healthcheck: { test: ['NONE'], interval: { seconds: 1 } } });
  const { runtime, clock, ctl } = setup(task);
  await stepUntil(ctl, S.RUNNING);
  t.is(ctl.status.health, HealthState.HEALTH_NONE);
  clock.advance(5000);
  await ctl.step();
  t.is(runtime.execs.length, 0);
});

test('adopt: a running container resumes RUNNING without a start; an exited one reports its exit code', async (t) => {
  const a = setup(makeTask('t1', { status: { state: S.RUNNING } }));
  const h = { taskId: 't1', containerId: 'cx', sandboxId: 'sx' };
  a.ctl.adopt(h, { state: 'running', exitCode: undefined, startedAt: 1, finishedAt: undefined, reason: '', message: '', pid: 7 });
  t.is(a.ctl.state, S.RUNNING);
  t.is(a.ctl.status.container?.pid, 7);

  const b = setup(makeTask('t2', { status: { state: S.RUNNING } }));
  b.ctl.adopt(h, { state: 'exited', exitCode: 2, startedAt: 1, finishedAt: 2, reason: 'Error', message: '' });
  t.is(b.ctl.state, S.FAILED);
  t.is(b.ctl.status.err, 'task: non-zero exit (2)');
  t.is(b.ctl.status.message, 'failed while the agent was down');
});

test('an invalid spec is rejected with the field in the message', async (t) => {
  const task = makeTask('t1', {}, { mounts: [{ type: 'BIND', target: '/data' }] });
  const { ctl } = setup(task);
  await stepUntil(ctl, S.PREPARING);
  const r: StepResult = await ctl.step();
  t.deepEqual(r, { kind: 'progress' });
  t.is(ctl.state, S.REJECTED);
  t.is(ctl.status.err, 'bind mount 0 has no source');
});
