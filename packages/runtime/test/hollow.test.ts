import test from 'ava';
import { HollowRuntime, ManualScheduler, isRuntimeError, normalizeRef, type TaskContainerSpec, type LogEntry } from '@shoal/runtime';

const spec = (taskId: string, extra: Partial<TaskContainerSpec> = {}): TaskContainerSpec => ({
  taskId, serviceId: 'svc1', serviceName: 'web', slot: 1, nodeId: 'n1', image: 'shoal-test/busybox:1', ...extra,
});

test('prepare/start honour latencies on the virtual clock', async (t) => {
  const sched = new ManualScheduler(1000);
  const rt = new HollowRuntime({ scheduler: sched, prepareLatencyMs: 50, startLatencyMs: 200 });
  let prepared = false;
  const p = rt.prepare(spec('t1')).then((h) => { prepared = true; return h; });
  await sched.advance(49);
  t.false(prepared);
  await sched.advance(1);
  const h = await p;
  t.is((await rt.inspect(h)).state, 'created');
  let started = false;
  const s = rt.start(h).then(() => { started = true; });
  await sched.advance(199);
  t.false(started);
  await sched.advance(1);
  await s;
  const i = await rt.inspect(h);
  t.is(i.state, 'running');
  t.is(i.startedAt, 1250);
});

test('containers exit after the configured time with the configured code, without timers', async (t) => {
  const sched = new ManualScheduler();
  const rt = new HollowRuntime({ scheduler: sched, exitAfterMs: (s) => (s.taskId === 'short' ? 100 : undefined), exitCode: 3 });
  const a = await rt.prepare(spec('short'));
  const b = await rt.prepare(spec('long'));
  await rt.start(a);
  await rt.start(b);
  t.is(sched.pending(), 0, 'no timers for running containers');
  await sched.advance(100);
  t.like(await rt.inspect(a), { state: 'exited', exitCode: 3, finishedAt: 100, reason: 'Error' });
  t.is((await rt.inspect(b)).state, 'running');
});

test('stop: graceful signal exit code, SIGTERM-ignoring image waits the grace then 137', async (t) => {
  const sched = new ManualScheduler();
  const rt = new HollowRuntime({ scheduler: sched, ignoreStopImages: ['shoal-test/stubborn:1'] });
  const a = await rt.prepare(spec('a', { stopSignal: 'SIGUSR1' }));
  await rt.start(a);
  await rt.stop(a);
  t.like(await rt.inspect(a), { state: 'exited', exitCode: 138 });

  const b = await rt.prepare(spec('b', { image: 'shoal-test/stubborn:1' }));
  await rt.start(b);
  let done = false;
  const p = rt.stop(b, { graceMs: 2000 }).then(() => { done = true; });
  await sched.advance(1999);
  t.false(done);
  t.is((await rt.inspect(b)).state, 'running');
  await sched.advance(1);
  await p;
  t.like(await rt.inspect(b), { state: 'exited', exitCode: 137 });
  await rt.stop(b); // idempotent
});

test('injected failures per image and a seeded failure rate', async (t) => {
  const rt = new HollowRuntime({
    scheduler: new ManualScheduler(),
    images: ['shoal-test/busybox:1'],
    failures: { 'shoal-test/bad:1': { stage: 'start', message: 'exec format error' }, 'shoal-test/crash:1': { stage: 'exit', exitCode: 2 } },
  });
  await t.throwsAsync(rt.prepare(spec('x', { image: 'shoal-test/missing:1' })), { message: /not present/ });
  rt.injectFailure('shoal-test/private:1', { stage: 'pull', message: 'denied' });
  const pullErr = await t.throwsAsync(rt.pullImage('shoal-test/private:1'));
  t.true(isRuntimeError(pullErr, 'NotFound'));
  await rt.pullImage('shoal-test/bad:1');
  await rt.pullImage('shoal-test/crash:1');
  t.true(await rt.imageExists('docker.io/shoal-test/bad:1'));
  const h = await rt.prepare(spec('bad', { image: 'shoal-test/bad:1' }));
  await t.throwsAsync(rt.start(h), { message: /exec format error/ });
  t.like(await rt.inspect(h), { state: 'exited', reason: 'StartError' });
  const c = await rt.prepare(spec('crash', { image: 'shoal-test/crash:1' }));
  await rt.start(c);
  t.like(await rt.inspect(c), { state: 'exited', exitCode: 2 });

  const run = async (seed: number): Promise<number> => {
    const r = new HollowRuntime({ scheduler: new ManualScheduler(), failureRate: 0.3, seed });
    let failed = 0;
    for (let i = 0; i < 200; i++) {
      const hh = await r.prepare(spec(`t${i}`));
      await r.start(hh).catch(() => failed++);
    }
    return failed;
  };
  const f1 = await run(7);
  t.is(f1, await run(7), 'same seed, same failures');
  t.true(f1 > 30 && f1 < 90, `about 30% failed (${f1})`);
});

test('list, crash, exec, stats, logs and remove', async (t) => {
  const sched = new ManualScheduler(5000);
  const rt = new HollowRuntime({ scheduler: sched, logLines: (s) => [`hello from ${s.taskId}`, 'bye'] });
  const h = await rt.prepare(spec('t1', { slot: 4, labels: { app: 'web' } }));
  t.is(await rt.prepare(spec('t1')).then((x) => x.containerId), h.containerId, 'prepare is idempotent per task');
  await rt.start(h);
  const [owned] = await rt.list();
  t.like(owned, { handle: h, serviceId: 'svc1', slot: 4, nodeId: 'n1', state: 'running' });
  t.is(owned!.labels['io.shoal.task.id'], 't1');
  t.is(owned!.labels.app, 'web');
  t.deepEqual(await rt.exec(h, ['echo', 'x'], 1000), { exitCode: 0, stdout: 'x\n', stderr: '' });
  await sched.advance(10);
  t.is((await rt.stats(h)).cpuUsageNanos, 10_000);
  const logs: LogEntry[] = [];
  for await (const e of rt.logs(h, { tail: 1 })) logs.push(e);
  t.deepEqual(logs.map((e) => e.text), ['bye']);
  rt.crash(h, 139, 'Error');
  t.like(await rt.inspect(h), { state: 'exited', exitCode: 139 });
  await t.throwsAsync(rt.exec(h, ['true'], 1000), { message: /not running/ });
  await rt.remove(h);
  await rt.remove(h);
  t.deepEqual(await rt.list(), []);
  await t.throwsAsync(rt.inspect(h), { message: /not found/ });
});

test('status can be forced not ready', async (t) => {
  const rt = new HollowRuntime();
  t.true((await rt.status()).ready);
  rt.setReady(false, 'disk full');
  t.deepEqual(await rt.status(), { ready: false, reason: 'disk full', conditions: { RuntimeReady: false, NetworkReady: false } });
});

test('image references normalise like CRI', (t) => {
  t.is(normalizeRef('busybox'), 'docker.io/library/busybox:latest');
  t.is(normalizeRef('shoal-test/busybox:1'), 'docker.io/shoal-test/busybox:1');
  t.is(normalizeRef('localhost:5000/x'), 'localhost:5000/x:latest');
  t.is(normalizeRef('reg.io/a/b@sha256:ab'), 'reg.io/a/b@sha256:ab');
});

test('thousands of simulated nodes stay cheap', async (t) => {
  const sched = new ManualScheduler();
  const nodes = Array.from({ length: 2000 }, () => new HollowRuntime({ scheduler: sched, exitAfterMs: 60_000 }));
  const t0 = process.hrtime.bigint();
  for (const [i, rt] of nodes.entries()) {
    for (let k = 0; k < 5; k++) await rt.start(await rt.prepare(spec(`n${i}-t${k}`)));
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.is(sched.pending(), 0);
  await sched.advance(60_000);
  t.is((await nodes[1999]!.list()).filter((c) => c.state === 'exited').length, 5);
  t.log(`10000 containers on 2000 hollow nodes prepared+started in ${ms.toFixed(0)} ms`);
});

test('default logs: start lines on stdout and stderr, ticks every SHOAL_HOLLOW_LOG_EVERY_MS; tail, since and follow', async (t) => {
  const sched = new ManualScheduler(10_000);
  const rt = new HollowRuntime({ scheduler: sched });
  const h = await rt.prepare(spec('t1', { slot: 2, env: ['SHOAL_HOLLOW_LOG_EVERY_MS=100'] }));
  await rt.start(h);
  await sched.advance(350);
  const read = async (o: Parameters<HollowRuntime['logs']>[1]) => {
    const out: string[] = [];
    for await (const e of rt.logs(h, o)) out.push(`${e.stream} ${e.time} ${e.text}`);
    return out;
  };
  t.deepEqual(await read({}), [
    'stdout 10000 web.2 started (task t1)',
    'stderr 10000 web.2 ready',
    'stdout 10100 web.2 tick 1',
    'stdout 10200 web.2 tick 2',
    'stdout 10300 web.2 tick 3',
  ]);
  t.deepEqual(await read({ tail: 2 }), ['stdout 10200 web.2 tick 2', 'stdout 10300 web.2 tick 3']);
  t.deepEqual(await read({ since: 10_150 }), ['stdout 10200 web.2 tick 2', 'stdout 10300 web.2 tick 3']);
  // follow: new ticks as the clock moves, until the container exits
  const ac = new AbortController();
  const seen: string[] = [];
  const follow = (async () => {
    for await (const e of rt.logs(h, { tail: 1, follow: true, signal: ac.signal })) seen.push(e.text);
  })();
  await sched.advance(200);
  t.deepEqual(seen, ['web.2 tick 3', 'web.2 tick 4', 'web.2 tick 5']);
  await rt.stop(h);
  await sched.advance(1000);
  await follow;
  t.deepEqual(seen, ['web.2 tick 3', 'web.2 tick 4', 'web.2 tick 5']);
  // a container without the env var logs only its two start lines
  const h2 = await rt.prepare(spec('t2', { slot: 0, nodeId: 'n9' }));
  await rt.start(h2);
  const lines: string[] = [];
  for await (const e of rt.logs(h2)) lines.push(e.text);
  t.deepEqual(lines, ['web.n9 started (task t2)', 'web.n9 ready']);
});

test('exec of a shell command (a CMD-SHELL health check): exit N, true, false', async (t) => {
  const rt = new HollowRuntime({ scheduler: new ManualScheduler() });
  const h = await rt.prepare(spec('t1'));
  await rt.start(h);
  t.is((await rt.exec(h, ['/bin/sh', '-c', 'exit 3'], 1000)).exitCode, 3);
  t.is((await rt.exec(h, ['/bin/sh', '-c', 'false'], 1000)).exitCode, 1);
  t.is((await rt.exec(h, ['/bin/sh', '-c', 'wget -q localhost'], 1000)).exitCode, 0);
  t.is((await rt.exec(h, ['false'], 1000)).exitCode, 1);
});

test('hollow logs: streams are selected before the tail', async (t) => {
  const sched = new ManualScheduler(0);
  const rt = new HollowRuntime({ scheduler: sched });
  const h = await rt.prepare(spec('t1', { env: ['SHOAL_HOLLOW_LOG_EVERY_MS=100'] }));
  await rt.start(h);
  await sched.advance(500);
  const read = async (o: Parameters<HollowRuntime['logs']>[1]) => {
    const out: string[] = [];
    for await (const e of rt.logs(h, o)) out.push(e.text);
    return out;
  };
  t.deepEqual(await read({ tail: 1, streams: ['stderr'] }), ['web.1 ready']);
  t.deepEqual(await read({ tail: 1, streams: ['stdout'] }), ['web.1 tick 5']);
});
