// Staging (planUpdate's stageNextBatch, what the manager's updater loop uses for stop-first
// updates): the next batch's new tasks are created ahead with desired READY and prepared while the
// current batch updates. Through the deterministic harness, with a preparation latency modelled.
import test from 'ava';
import { msDuration, TaskState, UpdateFailureAction, UpdateState, type Task, type UpdateConfig } from '@shoal/api';
import { UpdateSim, type SimOptions } from './harness.js';

const img = (t: Task): string => t.spec?.container?.image ?? '';
const stopped = (t: Task): boolean => t.status!.state > TaskState.RUNNING;

/** Per step: what the stop-first guarantees are about, with staging in the picture. */
function watch(sim: UpdateSim, from: string, to: string) {
  const w = { maxTransition: 0, maxStaged: 0, twoRunning: [] as string[], stagedStartedEarly: [] as string[] };
  return {
    w,
    each: () => {
      const bySlot = new Map<number, Task[]>();
      for (const t of sim.tasks.values()) bySlot.set(t.slot, [...(bySlot.get(t.slot) ?? []), t]);
      let transition = 0;
      let staged = 0;
      for (const [slot, ts] of bySlot) {
        const olds = ts.filter((t) => img(t) === from);
        const news = ts.filter((t) => img(t) === to && t.desiredState <= TaskState.RUNNING);
        if (ts.filter((t) => t.status!.state === TaskState.RUNNING).length > 1) w.twoRunning.push(`slot ${slot} at ${sim.now}`);
        const oldStopping = olds.some((t) => t.desiredState > TaskState.RUNNING && !stopped(t));
        const oldServing = olds.some((t) => t.desiredState <= TaskState.RUNNING && !stopped(t));
        const newStarting = news.some((t) => t.desiredState === TaskState.RUNNING && t.status!.state < TaskState.RUNNING);
        if (oldStopping || newStarting) transition++;
        if (oldServing && news.some((t) => t.desiredState === TaskState.READY)) staged++;
        if (oldServing && news.some((t) => t.desiredState === TaskState.RUNNING)) w.stagedStartedEarly.push(`slot ${slot} at ${sim.now}`);
      }
      w.maxTransition = Math.max(w.maxTransition, transition);
      w.maxStaged = Math.max(w.maxStaged, staged);
    },
  };
}

const opts = (update: Partial<UpdateConfig>, stage: boolean, extra: Partial<SimOptions> = {}): SimOptions => ({
  replicas: 10,
  update,
  stage,
  prepareLatencyMs: 1500,
  startLatencyMs: 100,
  stopLatencyMs: 200,
  ...extra,
});

test('stop-first with staging: the next batch is prepared ahead; still never more than `parallelism` slots in transition, never two tasks running in a slot, each slot replaced once', (t) => {
  const sim = new UpdateSim(opts({ parallelism: 2 }, true));
  sim.updateImage('app:2');
  const { w, each } = watch(sim, 'app:1', 'app:2');
  sim.runUntil([UpdateState.COMPLETED], 600_000, each);
  t.deepEqual(w.twoRunning, []);
  t.deepEqual(w.stagedStartedEarly, [], 'a staged task never starts while its old task serves');
  t.is(w.maxTransition, 2);
  t.is(w.maxStaged, 2, 'one batch staged ahead');
  t.is(sim.running('app:2').length, 10);
  t.is(sim.running('app:1').length, 0);
  t.is(sim.createsBySlot.size, 10);
  t.true([...sim.createsBySlot.values()].every((n) => n === 1), JSON.stringify([...sim.createsBySlot]));
  t.is(sim.service.updateStatus!.message, 'update completed');
});

test('staging takes the preparation off the slots\' critical path (virtual time)', (t) => {
  const took = (stage: boolean): number => {
    const sim = new UpdateSim(opts({ parallelism: 2 }, stage));
    sim.updateImage('app:2');
    const t0 = sim.now;
    sim.runUntil([UpdateState.COMPLETED]);
    return sim.now - t0;
  };
  const without = took(false);
  const withStaging = took(true);
  // 5 batches of 1.5 s preparation, 0.2 s stop, 0.1 s start: without staging each batch waits for
  // its whole preparation after it was taken (9.1 s); with one batch staged ahead, a batch's
  // preparation overlaps the previous batch's stop and start (5.9 s)
  t.true(withStaging < without * 0.7, `with staging ${withStaging} ms, without ${without} ms`);
});

test('staging with a delay: the old tasks of successive slots are stopped `delay` apart', (t) => {
  const sim = new UpdateSim(opts({ parallelism: 1, delay: msDuration(3000), monitor: msDuration(0) }, true, { replicas: 3 }));
  sim.updateImage('app:2');
  const stopAt = new Map<string, number>();
  sim.runUntil([UpdateState.COMPLETED], 600_000, () => {
    for (const x of sim.tasks.values()) if (img(x) === 'app:1' && x.desiredState > TaskState.RUNNING && !stopAt.has(x.id)) stopAt.set(x.id, sim.now);
  });
  const at = [...stopAt.values()].sort((a, b) => a - b);
  t.is(at.length, 3);
  t.true(at[1]! - at[0]! >= 3000, `gap ${at[1]! - at[0]!}`);
  t.true(at[2]! - at[1]! >= 3000, `gap ${at[2]! - at[1]!}`);
});

test('a staged task rejected while being prepared fails the update before its old task is stopped; the pause discards the staged tasks', (t) => {
  const sim = new UpdateSim(opts({ parallelism: 2 }, true, { replicas: 6 }));
  sim.behaviour('app:bad', { kind: 'rejectOnPrepare' });
  sim.updateImage('app:bad');
  sim.runUntil([UpdateState.PAUSED]);
  const st = sim.service.updateStatus!;
  t.regex(st.message, /^update paused due to failure or early termination of task t\d+ \(rejected\)$/);
  t.is(st.updated.length, 2, 'only the first batch was taken');
  sim.step();
  // slots 3-6 still run their old tasks, never stopped; their staged tasks are gone
  for (let slot = 3; slot <= 6; slot++) {
    const ts = [...sim.tasks.values()].filter((x) => x.slot === slot);
    t.true(ts.some((x) => img(x) === 'app:1' && x.desiredState === TaskState.RUNNING && x.status!.state === TaskState.RUNNING), `slot ${slot} old task serves`);
    t.true(ts.filter((x) => img(x) === 'app:bad').every((x) => x.desiredState > TaskState.RUNNING), `slot ${slot}: staged task discarded`);
  }
  for (let i = 0; i < 50; i++) sim.step();
  t.is(sim.service.updateStatus!.state, UpdateState.PAUSED);
  t.is(sim.running('app:1').length, 4);
});

test('staging: a paused update resumed without changes stages again and replaces every remaining slot once', (t) => {
  const sim = new UpdateSim(opts({ parallelism: 1 }, true, { replicas: 4 }));
  sim.behaviour('app:2', { kind: 'failOnStart' });
  sim.updateImage('app:2');
  sim.runUntil([UpdateState.PAUSED]);
  const begun = new Set(sim.service.updateStatus!.updated);
  for (let i = 0; i < 20; i++) sim.step();
  sim.behaviour('app:2', { kind: 'ok' });
  sim.resubmit();
  const { w, each } = watch(sim, 'app:1', 'app:2');
  sim.runUntil([UpdateState.COMPLETED], 600_000, each);
  t.deepEqual(w.twoRunning, []);
  t.deepEqual(w.stagedStartedEarly, []);
  t.is(sim.running('app:1').length, 0);
  t.is(sim.slotsOn('app:2'), 4);
  for (const slot of begun) t.false(sim.createsBySlot.has(slot), `${slot} updated twice`);
  t.is(sim.createsBySlot.size, 3);
  t.true([...sim.createsBySlot.values()].every((n) => n === 1), JSON.stringify([...sim.createsBySlot]));
});

test('staging: failure action rollback removes the staged tasks of the bad spec; every slot back on the old image', (t) => {
  const sim = new UpdateSim(opts({ parallelism: 2, failureAction: UpdateFailureAction.ROLLBACK_ON_FAILURE }, true, { replicas: 6, rollback: { parallelism: 2 } }));
  sim.behaviour('app:bad', { kind: 'exitAfter', ms: 300 });
  sim.updateImage('app:bad');
  sim.runUntil([UpdateState.ROLLBACK_STARTED]);
  const { w, each } = watch(sim, 'app:bad', 'app:1');
  sim.runUntil([UpdateState.ROLLBACK_COMPLETED], 600_000, each);
  for (let i = 0; i < 20; i++) sim.step();
  t.deepEqual(w.twoRunning, []);
  t.is(sim.slotsOn('app:1'), 6);
  t.is(sim.slotsOn('app:bad'), 0);
  t.is(sim.running('app:1').length, 6);
});

test('staging: a canary update stages nothing beyond the first batch until promoted', (t) => {
  const sim = new UpdateSim(opts({ parallelism: 2, canary: { enabled: true, autoPromoteAfter: undefined } }, true, { replicas: 6 }));
  sim.updateImage('app:2');
  sim.runUntil([UpdateState.CANARY_WAITING]);
  for (let i = 0; i < 30; i++) sim.step();
  t.is(sim.slotsOn('app:2'), 2);
  sim.promote();
  sim.runUntil([UpdateState.COMPLETED]);
  t.is(sim.running('app:2').length, 6);
  t.true([...sim.createsBySlot.values()].every((n) => n === 1));
});

test('staging: a leader change at any step resumes the update, each slot replaced once', (t) => {
  const full = new UpdateSim(opts({ parallelism: 2 }, true, { replicas: 6 }));
  full.updateImage('app:2');
  const t0 = full.now;
  full.runUntil([UpdateState.COMPLETED]);
  const total = (full.now - t0) / 100;
  for (let k = 1; k < total; k += 2) {
    const sim = new UpdateSim(opts({ parallelism: 2 }, true, { replicas: 6 }));
    sim.updateImage('app:2');
    for (let i = 0; i < k; i++) sim.step();
    sim.leaderChange();
    const { w, each } = watch(sim, 'app:1', 'app:2');
    sim.runUntil([UpdateState.COMPLETED], 600_000, each);
    t.deepEqual(w.twoRunning, [], `k=${k}`);
    t.is(sim.createsBySlot.size, 6, `k=${k}`);
    t.true([...sim.createsBySlot.values()].every((n) => n === 1), `k=${k}: ${JSON.stringify([...sim.createsBySlot])}`);
    t.is(sim.running('app:2').length, 6, `k=${k}`);
  }
});
