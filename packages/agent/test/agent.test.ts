// Integration: the Agent against real gRPC test dispatchers and the HollowRuntime.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ShoalError, TaskState } from '@shoal/api';
import type { TaskContainerSpec } from '@shoal/runtime';
import type { Agent } from '../src/agent.js';
import { countingRuntime, tempDir, testAgent } from './helpers/agent.js';
import { TestDispatcher } from './helpers/dispatcher.js';
import { makeTask } from './helpers/tasks.js';
import { waitFor } from './helpers/wait.js';

const S = TaskState;
const three = () => ['t1', 't2', 't3'].map((id) => makeTask(id));

function states(d: TestDispatcher): Record<string, string> {
  return Object.fromEntries([...d.latest].map(([id, s]) => [id, TaskState[s.state] ?? String(s.state)]));
}

async function allReported(d: TestDispatcher, ids: string[], state: TaskState, what: string): Promise<void> {
  await waitFor(what, () => ids.every((id) => d.latest.get(id)?.state === state), 10_000, () => states(d));
}

const cleanup: (() => Promise<void> | void)[] = [];
test.afterEach.always(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function track(agent: Agent, ...ds: TestDispatcher[]): void {
  cleanup.push(() => agent.stop());
  for (const d of ds) cleanup.push(() => d.kill());
}

/** A dispatcher with heartbeat period `heartbeatMs` assigning one task, t1, and an agent running it. */
async function oneRunningTask(heartbeatMs: number): Promise<{ d: TestDispatcher; agent: Agent }> {
  const d = await new TestDispatcher('a').start();
  d.heartbeatPeriodMs = heartbeatMs;
  d.setTasks([makeTask('t1')]);
  const { runtime } = countingRuntime();
  const agent = testAgent({ managers: [d.addr], runtime, dataDir: tempDir() });
  track(agent, d);
  await agent.start();
  await allReported(d, ['t1'], S.RUNNING, 't1 RUNNING');
  return { d, agent };
}

test.serial('registers, runs a COMPLETE set of 3 tasks, batches status updates, removes on INCREMENTAL remove', async (t) => {
  const d = await new TestDispatcher('a').start();
  d.heartbeatPeriodMs = 200;
  d.setTasks(three());
  const { runtime, hollow, counts } = countingRuntime();
  const agent = testAgent({ managers: [d.addr], runtime, dataDir: tempDir() });
  track(agent, d);
  await agent.start();
  await allReported(d, ['t1', 't2', 't3'], S.RUNNING, 'all 3 tasks reported RUNNING');
  t.is(d.issued, 1);
  t.is(agent.nodeId, 'node-1');
  t.is(counts.get('start'), 3);
  // ACCEPTED, PREPARING, READY, STARTING, RUNNING for 3 tasks = 15 changes; coalesced per task and batched.
  t.true(d.statusRpcs.length <= 5, `status RPCs: ${JSON.stringify(d.statusRpcs)}`);
  t.true(d.totalStatusUpdates() < 15, `updates sent: ${d.totalStatusUpdates()}`);
  for (const s of d.latest.values()) t.is(s.appliedBy, 'node-1');
  await waitFor('two heartbeats', () => d.heartbeats >= 2);
  t.is(agent.metrics().heartbeatPeriodMs, 200);

  d.incremental([], ['t3']);
  await waitFor('t3 reported SHUTDOWN', () => d.latest.get('t3')?.state === S.SHUTDOWN, 10_000, () => states(d));
  await waitFor('t3 container removed and controller dropped', async () => (await hollow.list()).length === 2 && agent.taskState('t3') === undefined);
  t.is(counts.get('remove'), 1);
  t.is(agent.taskState('t1'), S.RUNNING);
  t.deepEqual(agent.metrics().tasksByState, { RUNNING: 2 });
});

test.serial('fails over to the second manager from the session list when the first dies', async (t) => {
  const a = await new TestDispatcher('a').start();
  const b = await new TestDispatcher('b').start();
  a.managers = [
    { nodeId: 'a', addr: a.addr, weight: 1 },
    { nodeId: 'b', addr: b.addr, weight: 1 },
  ];
  a.setTasks(three());
  b.setTasks(three());
  const { runtime, counts } = countingRuntime();
  const agent = testAgent({ managers: [a.addr], runtime, dataDir: tempDir() });
  track(agent, a, b);
  await agent.start();
  await allReported(a, ['t1', 't2', 't3'], S.RUNNING, 'all 3 tasks RUNNING on manager a');
  a.kill();
  await waitFor('a session with manager b', () => agent.metrics().manager === b.addr && agent.metrics().sessionState === 'connected', 10_000, () => agent.metrics());
  await waitFor('a heartbeat on b', () => b.heartbeats > 0);
  await allReported(b, ['t1', 't2', 't3'], S.RUNNING, 'current statuses re-reported to manager b');
  t.is(counts.get('start'), 3, 'nothing restarted');
  t.is(b.issued, 0, 'no second registration');
});

test.serial('fails over when heartbeats fail although the streams stay up', async (t) => {
  const a = await new TestDispatcher('a').start();
  const b = await new TestDispatcher('b').start();
  a.heartbeatPeriodMs = 100;
  a.managers = [
    { nodeId: 'a', addr: a.addr, weight: 2 },
    { nodeId: 'b', addr: b.addr, weight: 1 },
  ];
  a.setTasks([makeTask('t1')]);
  b.setTasks([makeTask('t1')]);
  const { runtime, counts } = countingRuntime();
  const agent = testAgent({ managers: [a.addr], runtime, dataDir: tempDir() });
  track(agent, a, b);
  await agent.start();
  await allReported(a, ['t1'], S.RUNNING, 't1 RUNNING on manager a');
  a.heartbeatError = new ShoalError('Unavailable', 'not the leader any more');
  await waitFor('a session with manager b after failed heartbeats', () => agent.metrics().manager === b.addr && b.heartbeats > 0, 10_000, () => agent.metrics());
  t.true(agent.metrics().heartbeatFailures >= 1);
  await waitFor('a closed its session streams', () => a.openAssignmentStreams === 0);
  t.is(counts.get('start'), 1);
});

test.serial('one failed heartbeat does not end the session: it is retried while the last accepted one is recent', async (t) => {
  const { d, agent } = await oneRunningTask(300);
  await waitFor('a heartbeat', () => d.heartbeats >= 1);
  const sessions = d.sessionAttempts;
  const streams = d.assignmentStreams;
  const beats = d.heartbeats;
  d.heartbeatFailuresLeft = 1;
  await waitFor('the failed heartbeat retried and two more accepted', () => d.heartbeatFailuresLeft === 0 && d.heartbeats >= beats + 2, 10_000, () => agent.metrics());
  t.is(agent.metrics().heartbeatFailures, 1);
  t.is(d.sessionAttempts, sessions, 'no new session');
  t.is(d.assignmentStreams, streams, 'no new assignments stream (no complete set resent)');
  t.is(agent.metrics().sessionState, 'connected');
});

test.serial('an agent restart from the same dataDir re-adopts running containers without restarting them', async (t) => {
  const d = await new TestDispatcher('a').start();
  d.setTasks(three());
  const { runtime, hollow, counts } = countingRuntime();
  const dataDir = tempDir();
  const first = testAgent({ managers: [d.addr], runtime, dataDir });
  await first.start();
  await allReported(d, ['t1', 't2', 't3'], S.RUNNING, 'all 3 tasks RUNNING before the restart');
  const before = new Map((await hollow.list()).map((o) => [o.handle.taskId, o.handle.containerId]));
  await first.stop();
  // t3's process dies while the agent is down.
  const h3 = (await hollow.list()).find((o) => o.handle.taskId === 't3')!.handle;
  hollow.crash(h3, 7);
  const mark = d.history.length;

  const second = testAgent({ managers: [d.addr], runtime, dataDir });
  track(second, d);
  await second.start();
  t.is(second.taskState('t1'), S.RUNNING, 'restored from the db before any session');
  await waitFor('t3 reported FAILED with its exit code after the restart', () => d.history.slice(mark).some((h) => h.taskId === 't3' && h.status.state === S.FAILED), 10_000, () => states(d));
  await waitFor('t1 and t2 reported RUNNING after the restart', () => ['t1', 't2'].every((id) => d.history.slice(mark).some((h) => h.taskId === id && h.status.state === S.RUNNING)));
  const t3 = d.latest.get('t3')!;
  t.is(t3.err, 'task: non-zero exit (7)');
  t.is(t3.container?.exitCode, 7);
  t.is(d.issued, 1, 'identity persisted: no second registration');
  t.is(counts.get('start'), 3, 'runtime start count unchanged');
  t.is(counts.get('prepare'), 3);
  const after = new Map((await hollow.list()).map((o) => [o.handle.taskId, o.handle.containerId]));
  t.deepEqual(after, before, 'same container ids');
  t.is(second.taskState('t1'), S.RUNNING);
});

test.serial('a stale session id makes the agent open a new session; an assignments gap reopens the stream', async (t) => {
  const { d, agent } = await oneRunningTask(100);
  d.expireSessions();
  await waitFor('a second session after the old id was rejected', () => d.sessionIds.length >= 2 && d.validSessions.size > 0 && agent.metrics().sessionId === d.sessionIds.at(-1), 10_000, () => agent.metrics());
  await waitFor('heartbeats accepted on the new session', () => d.heartbeats > 0 && agent.metrics().sessionState === 'connected');

  await waitFor('exactly one assignments stream open (the new session\'s)', () => d.openAssignmentStreams === 1);
  const streams = d.assignmentStreams;
  d.incremental([makeTask('t2')], [], { skipSeq: true });
  await waitFor('the assignments stream reopened after the gap', () => d.assignmentStreams > streams && agent.metrics().assignmentGaps === 1, 10_000, () => agent.metrics());
  t.is(agent.metrics().sessions, 2, 'a gap reopens only the assignments stream, not the session');
  await allReported(d, ['t1', 't2'], S.RUNNING, 't2 (from the COMPLETE set after the gap) RUNNING');
});

test.serial('log subscriptions: matching tasks publish their lines, then close', async (t) => {
  const d = await new TestDispatcher('a').start();
  d.setTasks([makeTask('t1'), makeTask('t2', { serviceId: 'other' })]);
  const { runtime } = countingRuntime({ logLines: (spec) => [`hello from ${spec.taskId}`, 'second line'] });
  const agent = testAgent({ managers: [d.addr], runtime, dataDir: tempDir() });
  track(agent, d);
  await agent.start();
  await allReported(d, ['t1', 't2'], S.RUNNING, 'tasks RUNNING');
  await waitFor('the agent listens for log subscriptions', () => d.listenerCount > 0);
  d.subscribe({ id: 'sub1', selector: { serviceIds: ['svc1'], nodeIds: [], taskIds: [] }, options: { streams: [], follow: false, tail: -1 }, close: false });
  await waitFor('the subscription closed by the agent', () => d.published.some((m) => m.subscriptionId === 'sub1' && m.close));
  const lines = d.published.flatMap((m) => m.messages.map((l) => `${l.context?.taskId}: ${l.data.toString().trimEnd()}`));
  t.deepEqual(lines, ['t1: hello from t1', 't1: second line']);
});

test.serial('a session refused with NotFound is retried with backoff, not in a tight loop', async (t) => {
  const d = await new TestDispatcher('a').start();
  d.sessionError = new ShoalError('NotFound', 'node node-1 is not registered');
  const { runtime } = countingRuntime();
  const agent = testAgent({ managers: [d.addr], runtime, dataDir: tempDir(), backoffBaseMs: 200, backoffMaxMs: 800 });
  track(agent, d);
  await agent.start();
  await waitFor('a few refused session attempts', () => d.sessionAttempts >= 3, 20_000, () => d.sessionAttempts);
  const from = d.sessionAttempts;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 2_000));
  const elapsed = Date.now() - t0;
  // backoff of at least 100 ms (half the 200 ms base, with jitter) between attempts: never more
  // than elapsed/100 + 1 attempts, where a tight loop makes hundreds
  t.true(d.sessionAttempts - from <= Math.ceil(elapsed / 100) + 1, `${d.sessionAttempts - from} attempts in ${elapsed} ms`);
  t.is(agent.metrics().sessions, 0);
  d.sessionError = undefined;
  await waitFor('the session once the manager accepts it', () => agent.metrics().sessionState === 'connected', 20_000, () => agent.metrics());
  t.is(agent.metrics().sessions, 1);
});

test.serial('secrets and configs a task references are written under the data dir and mounted read-only; removed with the task', async (t) => {
  const d = await new TestDispatcher('a').start();
  d.secrets = [{ id: 's1', spec: { annotations: { name: 'db_pw', labels: {} }, data: Buffer.from('hunter2'), driver: undefined }, internal: false }];
  d.configs = [{ id: 'c1', spec: { annotations: { name: 'app', labels: {} }, data: Buffer.from('port=80\n') } }];
  d.setTasks([
    makeTask('t1', {}, {
      secrets: [{ secretId: 's1', secretName: 'db_pw', file: { name: 'db_pw', uid: '', gid: '', mode: 0o400 } }],
      configs: [{ configId: 'c1', configName: 'app', file: { name: '/etc/app.conf', uid: '', gid: '', mode: 0o444 } }],
    }),
    makeTask('t2', { slot: 2 }),
  ]);
  const { runtime: counted } = countingRuntime();
  const prepared = new Map<string, TaskContainerSpec>();
  const runtime = new Proxy(counted, {
    get: (target, prop, receiver) =>
      prop === 'prepare'
        ? (spec: TaskContainerSpec) => {
            prepared.set(spec.taskId, spec);
            return target.prepare(spec);
          }
        : Reflect.get(target, prop, receiver),
  });
  const dataDir = tempDir();
  const agent = testAgent({ managers: [d.addr], runtime, dataDir });
  track(agent, d);
  await agent.start();
  await allReported(d, ['t1', 't2'], S.RUNNING, 'both tasks RUNNING');
  const dir = join(dataDir, 'task-files', 't1');
  t.deepEqual(prepared.get('t1')!.mounts, [
    { type: 'bind', source: join(dir, 'secret-0'), target: '/run/secrets/db_pw', readOnly: true },
    { type: 'bind', source: join(dir, 'config-1'), target: '/etc/app.conf', readOnly: true },
  ]);
  t.is(prepared.get('t2')!.mounts, undefined, 'only the task that references them gets them');
  t.is(readFileSync(join(dir, 'secret-0'), 'utf8'), 'hunter2');
  t.is(statSync(join(dir, 'secret-0')).mode & 0o777, 0o400);
  t.is(readFileSync(join(dir, 'config-1'), 'utf8'), 'port=80\n');
  t.deepEqual(readdirSync(join(dataDir, 'task-files')), ['t1']);
  d.incremental([], ['t1']);
  await waitFor("t1's files removed with its container", () => !existsSync(dir), 10_000);
});
