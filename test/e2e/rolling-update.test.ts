// E2E rolling updates on real containers (issue 7 item 5): 1 manager + 2 workers, each worker
// with its own containerd. Parallelism is respected at every sampled moment, a broken update rolls
// back by itself, start-first never drops below N running tasks, and a canary update waits after
// its first batch until PromoteService.
//
// Samplers read the task table every ~100 ms while an update runs (and, for start-first, also the
// containers on both containerds), and the assertions are over every sample.
import test from 'ava';
import { ServiceSpec, TaskState, UpdateFailureAction, UpdateOrder, UpdateState, type Service, type Task, type UpdateConfig } from '@shoal/api';
import { observed, waitFor, type ControlApi } from '@shoal/testkit';
import { containersOf, IMAGE_V1, IMAGE_V2, stateName, summarize, tasksOf, useE2e, waitConverged } from './_e2e.js';

// The default heartbeat period (5 s, down after 15 s): with the harness's 500 ms a loaded machine
// can miss 1.5 s of heartbeats, the workers are declared down and every task is moved, which is
// right but not what these tests look at.
const env = useE2e(test, { prefix: 'e2e-ru', workers: 2, subnetBase: 243, heartbeatPeriod: '5s' });

const SLEEPER = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'];
const sec = (s: number) => ({ seconds: Math.floor(s), nanos: Math.round((s % 1) * 1e9) });

function serviceSpec(name: string, replicas: number, update: Partial<UpdateConfig>, opts: { image?: string; command?: string[]; health?: boolean } = {}): ServiceSpec {
  return ServiceSpec.fromPartial({
    annotations: { name, labels: {} },
    task: {
      container: {
        image: opts.image ?? IMAGE_V1,
        command: opts.command ?? SLEEPER,
        stopGracePeriod: sec(2),
        ...(opts.health ? { healthcheck: { test: ['CMD-SHELL', 'test -d /proc/1'], interval: sec(0.5), timeout: sec(5), retries: 3 } } : {}),
      },
      restart: { delay: sec(0) },
    },
    mode: { $case: 'replicated', replicated: { replicas } },
    update: { delay: sec(0), monitor: sec(1), failureAction: UpdateFailureAction.PAUSE_ON_FAILURE, ...update },
    rollback: { parallelism: 0, delay: sec(0), monitor: sec(1), failureAction: UpdateFailureAction.PAUSE_ON_FAILURE },
  });
}

async function getService(api: ControlApi, id: string): Promise<Service> {
  return (await api.getService({ serviceId: id }, { timeoutMs: 10_000 })).service!;
}

/** Update the service's spec with `change` (read-modify-write with the version read). */
async function updateSpec(api: ControlApi, id: string, change: (s: ServiceSpec) => void): Promise<void> {
  const s = await getService(api, id);
  const spec = structuredClone(s.spec!);
  change(spec);
  await api.updateService({ serviceId: id, serviceVersion: s.meta!.version, spec });
}

async function waitUpdateState(api: ControlApi, id: string, states: UpdateState[], timeoutMs: number): Promise<Service> {
  const got = await waitFor<Service>(
    `service ${id}: update state ${states.map((s) => UpdateState[s]).join(' or ')}`,
    async () => {
      const s = await getService(api, id);
      const st = s.updateStatus?.state ?? UpdateState.UPDATE_UNKNOWN;
      const tasks = await tasksOf(api, id);
      return observed(states.includes(st), { state: UpdateState[st], message: s.updateStatus?.message, tasks: summarize(tasks) }, s);
    },
    timeoutMs,
    { intervalMs: 300 },
  );
  return got!;
}

interface Sampler<T> {
  samples: T[];
  errors: unknown[];
  stop(): Promise<T[]>;
}

/** Call `take` every ~intervalMs (back to back when it is slower) until stop(). */
function sample<T>(take: () => Promise<T>, intervalMs = 100): Sampler<T> {
  const samples: T[] = [];
  const errors: unknown[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      try {
        samples.push(await take());
      } catch (err) {
        errors.push(err);
      }
      const left = intervalMs - (Date.now() - started);
      if (left > 0 && running) await new Promise((r) => setTimeout(r, left));
    }
  })();
  return {
    samples,
    errors,
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}

const imageOf = (t: Task): string => t.spec?.container?.image ?? '';
const isRunning = (t: Task): boolean => t.status?.state === TaskState.RUNNING;

/**
 * Slots in transition at one moment: a slot with a live task (desired ≤ RUNNING) that is not yet
 * RUNNING (a new task being prepared or waiting for its old one to stop), or with a task told to
 * stop that is still up.
 */
type Transition = number[] & { detail?: string[] };

function slotsInTransition(tasks: readonly Task[]): Transition {
  const slots = new Set<number>();
  for (const t of tasks) {
    const st = t.status?.state ?? TaskState.NEW;
    const starting = t.desiredState <= TaskState.RUNNING && st < TaskState.RUNNING;
    const stopping = t.desiredState > TaskState.RUNNING && st <= TaskState.RUNNING;
    if (starting || stopping) slots.add(t.slot);
  }
  const out: Transition = [...slots].sort((a, b) => a - b);
  out.detail = tasks.filter((t) => slots.has(t.slot)).map((t) => `slot ${t.slot} ${t.id.slice(0, 6)} ${imageOf(t)} ${stateName(t.status?.state)}/desired ${stateName(t.desiredState)} created ${t.meta?.createdAt} ${t.status?.timestamp}`);
  return out;
}

test.serial('10 replicas updated with parallelism 2: never more than 2 slots in transition, COMPLETED, all on the new image', async (t) => {
  t.timeout(300_000);
  const { api } = env();
  const id = (await api.createService({ spec: serviceSpec('par', 10, { parallelism: 2, order: UpdateOrder.STOP_FIRST }) })).service!.id;
  await waitConverged(api, id, 10, 150_000, 'par deployed');
  const sampler = sample(async () => slotsInTransition(await tasksOf(api, id)));
  await updateSpec(api, id, (s) => {
    s.task!.container!.image = IMAGE_V2;
  });
  const done = await waitUpdateState(api, id, [UpdateState.COMPLETED, UpdateState.PAUSED], 240_000).finally(() => sampler.stop());
  t.is(done.updateStatus?.state, UpdateState.COMPLETED, done.updateStatus?.message);
  const run = await waitConverged(api, id, 10, 60_000, 'par on the new image', { extra: (r) => r.every((x) => imageOf(x) === IMAGE_V2) });
  t.deepEqual(run.map((x) => x.slot).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'each slot once');
  t.true(run.every((x) => imageOf(x) === IMAGE_V2));
  const widest = sampler.samples.reduce<Transition>((m, s) => (s.length > m.length ? s : m), []);
  t.log(`${sampler.samples.length} samples; widest moment: slots ${JSON.stringify(widest)}`);
  t.true(sampler.samples.length >= 10, `enough samples during the update (${sampler.samples.length}; errors: ${sampler.errors.length})`);
  t.true(sampler.samples.every((s) => s.length <= 2), `at most 2 slots in transition at every sample; saw ${JSON.stringify(widest)}:\n${widest.detail?.join('\n')}`);
  t.is(widest.length, 2, 'the update did use its parallelism of 2');
  // The real containers: 10 running in all (old ones stopped).
  await waitFor(
    'par: exactly 10 containers running across both containerds',
    async () => {
      let n = 0;
      for (const rt of env().runtimes.values()) n += [...(await containersOf(rt, id)).values()].filter((c) => c.state === 'running').length;
      return observed(n === 10, n);
    },
    60_000,
    { intervalMs: 500 },
  );
  await api.removeService({ serviceId: id });
});

test.serial('a broken update (command exits 1) with failure action rollback rolls back by itself to the old spec', async (t) => {
  t.timeout(240_000);
  const { api } = env();
  const id = (await api.createService({ spec: serviceSpec('broken', 4, { parallelism: 1, failureAction: UpdateFailureAction.ROLLBACK_ON_FAILURE }) })).service!.id;
  const before = await waitConverged(api, id, 4, 120_000, 'broken deployed');
  await updateSpec(api, id, (s) => {
    s.task!.container!.image = IMAGE_V2;
    s.task!.container!.command = ['sh', '-c', 'echo broken; exit 1'];
  });
  const back = await waitUpdateState(api, id, [UpdateState.ROLLBACK_COMPLETED, UpdateState.ROLLBACK_PAUSED, UpdateState.PAUSED, UpdateState.COMPLETED], 180_000);
  t.is(back.updateStatus?.state, UpdateState.ROLLBACK_COMPLETED, back.updateStatus?.message);
  t.is(back.spec?.task?.container?.image, IMAGE_V1, 'the service spec is the old one again');
  t.deepEqual(back.spec?.task?.container?.command, SLEEPER);
  const run = await waitConverged(api, id, 4, 120_000, 'broken back on the old spec', {
    extra: (r) => r.every((x) => imageOf(x) === IMAGE_V1 && JSON.stringify(x.spec?.container?.command) === JSON.stringify(SLEEPER)),
  });
  t.is(run.length, 4);
  const all = await tasksOf(api, id);
  const tried = all.filter((x) => imageOf(x) === IMAGE_V2);
  t.true(tried.length >= 1, 'the new spec was tried');
  t.true(tried.every((x) => x.desiredState > TaskState.RUNNING && (x.status?.state ?? 0) > TaskState.RUNNING), `no task of the broken spec is left: ${JSON.stringify(summarize(tried))}`);
  t.true(tried.some((x) => x.status?.state === TaskState.FAILED && /exit/.test(x.status?.err ?? '')), `a new task failed with its exit code: ${JSON.stringify(summarize(tried))}`);
  // Untouched slots kept their tasks: parallelism 1 stopped after the first failure.
  const kept = run.filter((x) => before.some((b) => b.id === x.id));
  t.true(kept.length >= 2, `most of the old tasks were never replaced (${kept.length} of 4 kept)`);
  await api.removeService({ serviceId: id });
});

test.serial('start-first keeps at least N tasks RUNNING (and N containers running) throughout the update', async (t) => {
  t.timeout(300_000);
  const e = env();
  const { api } = e;
  const N = 4;
  const id = (await api.createService({ spec: serviceSpec('startfirst', N, { parallelism: 1, order: UpdateOrder.START_FIRST }) })).service!.id;
  await waitConverged(api, id, N, 120_000, 'startfirst deployed');
  const sampler = sample(async () => {
    const [tasks, counts] = await Promise.all([
      tasksOf(api, id),
      Promise.all([...e.runtimes.values()].map(async (rt) => [...(await containersOf(rt, id)).values()].filter((c) => c.state === 'running').length)),
    ]);
    return { tasks: tasks.filter(isRunning).length, containers: counts.reduce((a, b) => a + b, 0), states: summarize(tasks) };
  });
  await updateSpec(api, id, (s) => {
    s.task!.container!.image = IMAGE_V2;
  });
  const done = await waitUpdateState(api, id, [UpdateState.COMPLETED, UpdateState.PAUSED], 240_000).finally(() => sampler.stop());
  t.is(done.updateStatus?.state, UpdateState.COMPLETED, done.updateStatus?.message);
  await waitConverged(api, id, N, 60_000, 'startfirst on the new image', { extra: (r) => r.every((x) => imageOf(x) === IMAGE_V2) });
  const s = sampler.samples;
  t.true(s.length >= 10, `enough samples (${s.length}; errors ${sampler.errors.length})`);
  const minTasks = Math.min(...s.map((x) => x.tasks));
  const minContainers = Math.min(...s.map((x) => x.containers));
  const maxTasks = Math.max(...s.map((x) => x.tasks));
  t.log(`${s.length} samples: RUNNING tasks min ${minTasks} max ${maxTasks}; running containers min ${minContainers}`);
  t.true(minTasks >= N, `at least ${N} tasks RUNNING at every sample; lowest: ${JSON.stringify(s.find((x) => x.tasks === minTasks))}`);
  t.true(minContainers >= N, `at least ${N} containers running at every sample (min ${minContainers})`);
  t.true(maxTasks > N, 'new tasks ran next to the old ones (start-first overlap was sampled)');
  await api.removeService({ serviceId: id });
});

test.serial('canary: the update waits after its first batch (CANARY_WAITING) until PromoteService, then completes', async (t) => {
  t.timeout(300_000);
  const { api } = env();
  const id = (await api.createService({ spec: serviceSpec('canary', 6, { parallelism: 2, canary: { enabled: true, autoPromoteAfter: undefined } }, { health: true }) })).service!.id;
  await waitConverged(api, id, 6, 150_000, 'canary deployed', { healthy: true });
  await updateSpec(api, id, (s) => {
    s.task!.container!.image = IMAGE_V2;
  });
  const waiting = await waitUpdateState(api, id, [UpdateState.CANARY_WAITING, UpdateState.COMPLETED, UpdateState.PAUSED], 180_000);
  t.is(waiting.updateStatus?.state, UpdateState.CANARY_WAITING, waiting.updateStatus?.message);
  const countNew = async () => {
    const live = (await tasksOf(api, id)).filter((x) => x.desiredState === TaskState.RUNNING);
    return { v2: live.filter((x) => imageOf(x) === IMAGE_V2 && isRunning(x)).length, v1: live.filter((x) => imageOf(x) === IMAGE_V1 && isRunning(x)).length, live: live.length };
  };
  t.deepEqual(await countNew(), { v2: 2, v1: 4, live: 6 }, 'the first batch (2) runs the new spec, the rest the old one');
  // It holds there: watch for a few seconds that nothing else moves (the monitor window is 1 s).
  const held = sample(async () => ({ state: (await getService(api, id)).updateStatus?.state, ...(await countNew()) }), 200);
  await waitFor('3 s of observations of the waiting canary', () => held.samples.length >= 15, 60_000, { intervalMs: 200 });
  await held.stop();
  t.true(
    held.samples.every((x) => x.state === UpdateState.CANARY_WAITING && x.v2 === 2 && x.v1 === 4),
    `the canary held: ${JSON.stringify(held.samples.find((x) => !(x.state === UpdateState.CANARY_WAITING && x.v2 === 2 && x.v1 === 4)))}`,
  );
  await api.promoteService({ serviceId: id });
  const done = await waitUpdateState(api, id, [UpdateState.COMPLETED, UpdateState.PAUSED], 180_000);
  t.is(done.updateStatus?.state, UpdateState.COMPLETED, done.updateStatus?.message);
  const run = await waitConverged(api, id, 6, 60_000, 'canary promoted', { healthy: true, extra: (r) => r.every((x) => imageOf(x) === IMAGE_V2) });
  t.true(run.every((x) => imageOf(x) === IMAGE_V2));
  t.is(stateName(run[0]!.status?.state), 'RUNNING');
  await api.removeService({ serviceId: id });
});
