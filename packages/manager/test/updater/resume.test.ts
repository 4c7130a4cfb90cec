// The updater's decisions around pausing, resuming, forcing, manual rollback and leader changes
// (issue 7), through the synchronous deterministic harness.
import test from 'ava';
import { HealthState, msDuration, TaskState, UpdateFailureAction, UpdateOrder, UpdateState, type UpdateConfig } from '@shoal/api';
import { taskIsReady } from '../../src/updater/index.js';
import { UpdateSim } from './harness.js';

const onceEach = (sim: UpdateSim): boolean => [...sim.createsBySlot.values()].every((n) => n === 1);

test('a paused update resumes on `service update` with a new spec (the fixed image), each slot updated once', (t) => {
  const sim = new UpdateSim({ replicas: 6, update: { parallelism: 2 } });
  sim.behaviour('app:bad', { kind: 'failOnStart' });
  sim.updateImage('app:bad');
  sim.runUntil([UpdateState.PAUSED]);
  t.regex(sim.service.updateStatus!.message, /^update paused due to failure or early termination of task t\d+ \(task: non-zero exit \(1\)\)$/);
  sim.updateImage('app:3');
  sim.runUntil([UpdateState.COMPLETED]);
  t.is(sim.slotsOn('app:3'), 6);
  t.is(sim.slotsOn('app:bad'), 0);
  t.is(sim.createsBySlot.size, 6);
  t.true(onceEach(sim), JSON.stringify([...sim.createsBySlot]));
});

test('a paused update resumes on `service update` without changes (explicit resume), updated slots are not redone', (t) => {
  const sim = new UpdateSim({ replicas: 6, update: { parallelism: 1 } });
  sim.behaviour('app:2', { kind: 'failOnStart' }); // e.g. a dependency is down for a while
  sim.updateImage('app:2');
  sim.runUntil([UpdateState.PAUSED]);
  const begun = new Set(sim.service.updateStatus!.updated);
  t.is(begun.size, 1);
  for (let i = 0; i < 50; i++) sim.step();
  t.is(sim.service.updateStatus!.state, UpdateState.PAUSED, 'stays paused until resumed');
  sim.behaviour('app:2', { kind: 'ok' }); // the dependency is back
  sim.resubmit();
  t.is(sim.service.updateStatus, undefined);
  sim.runUntil([UpdateState.COMPLETED]);
  t.is(sim.slotsOn('app:2'), 6);
  t.is(sim.running('app:1').length, 0);
  // the slot of the failed task is restarted by the restart policy, not replaced again by the updater
  for (const slot of begun) t.false(sim.createsBySlot.has(slot), `${slot} updated twice`);
  t.is(sim.createsBySlot.size, 5);
  t.true(onceEach(sim));
});

test('`service update --force` replaces every task once without a spec change', (t) => {
  const sim = new UpdateSim({ replicas: 4, update: { parallelism: 2 } });
  const before = new Set([...sim.tasks.keys()]);
  sim.resubmit(true);
  sim.runUntil([UpdateState.COMPLETED]);
  t.is(sim.createsBySlot.size, 4);
  t.true(onceEach(sim));
  const running = sim.running();
  t.is(running.length, 4);
  t.true(running.every((x) => !before.has(x.id) && x.spec!.forceUpdate === 1 && x.spec!.container!.image === 'app:1'));
});

test('`service update` without changes on a completed update replaces nothing', (t) => {
  const sim = new UpdateSim({ replicas: 3, update: { parallelism: 1 } });
  sim.resubmit();
  for (let i = 0; i < 50; i++) sim.step();
  t.is(sim.createsBySlot.size, 0);
  t.is(sim.service.updateStatus, undefined);
});

test('manual rollback after a completed update uses the rollback config', (t) => {
  const sim = new UpdateSim({ replicas: 6, update: { parallelism: 1 }, rollback: { parallelism: 0 } });
  sim.updateImage('app:2');
  sim.runUntil([UpdateState.COMPLETED]);
  sim.manualRollback();
  t.is(sim.service.updateStatus!.message, 'manually requested rollback');
  sim.step();
  t.is(sim.decisions.at(-1)!.plan.create.length, 6, 'rollback parallelism 0: every slot at once');
  sim.runUntil([UpdateState.ROLLBACK_COMPLETED]);
  t.is(sim.slotsOn('app:1'), 6);
  t.is(sim.slotsOn('app:2'), 0);
  t.true(onceEach(sim));
});

for (const order of [UpdateOrder.STOP_FIRST, UpdateOrder.START_FIRST]) {
  const name = UpdateOrder[order];
  test(`failure action rollback, ${name}: back on the previous spec, every slot on the old image`, (t) => {
    const sim = new UpdateSim({
      replicas: 4,
      update: { parallelism: 1, order, failureAction: UpdateFailureAction.ROLLBACK_ON_FAILURE },
      rollback: { parallelism: 1, order },
    });
    sim.behaviour('app:bad', { kind: 'exitAfter', ms: 400 });
    sim.updateImage('app:bad');
    sim.runUntil([UpdateState.ROLLBACK_STARTED]);
    t.regex(sim.service.updateStatus!.message, /^update rolled back due to failure or early termination of task t\d+ \(task: non-zero exit \(2\)\)$/);
    sim.runUntil([UpdateState.ROLLBACK_COMPLETED]);
    t.is(sim.slotsOn('app:1'), 4);
    t.is(sim.slotsOn('app:bad'), 0);
  });

  test(`failure action pause, ${name}: pauses on the first failure and keeps the other slots running the old image`, (t) => {
    const sim = new UpdateSim({ replicas: 4, update: { parallelism: 1, order } });
    sim.behaviour('app:bad', { kind: 'failOnStart' });
    sim.updateImage('app:bad');
    sim.runUntil([UpdateState.PAUSED]);
    for (let i = 0; i < 50; i++) sim.step();
    t.is(sim.createsBySlot.size, 1);
    // start-first never stopped an old task for a new one that did not come up
    t.is(sim.running('app:1').length, order === UpdateOrder.START_FIRST ? 4 : 3);
  });

  test(`failure action continue, ${name}: goes on past failures to the end`, (t) => {
    const sim = new UpdateSim({ replicas: 4, update: { parallelism: 2, order, failureAction: UpdateFailureAction.CONTINUE_ON_FAILURE } });
    sim.behaviour('app:bad', { kind: 'exitAfter', ms: 400 });
    sim.updateImage('app:bad');
    let midway = '';
    sim.runUntil([UpdateState.COMPLETED], 600_000, () => {
      if (sim.service.updateStatus!.state === UpdateState.UPDATING && sim.service.updateStatus!.failures > 0) midway ||= sim.service.updateStatus!.message;
    });
    t.regex(midway, /^update in progress; [12] task\(s\) failed, the last task t\d+ \(task: non-zero exit \(2\)\)$/);
    t.is(sim.service.updateStatus!.failures, 4);
    t.is(sim.service.updateStatus!.message, 'update completed with 4 failed task(s)');
    t.is(sim.createsBySlot.size, 4);
  });
}

test('max failure ratio: 1 of 4 failing is within 0.25, 2 of 4 exceed it and pause', (t) => {
  // slots 1 and 2 are updated first (parallelism 1, slot order); make the first n new tasks fail
  const run = (failing: number): UpdateSim => {
    const sim = new UpdateSim({ replicas: 4, update: { parallelism: 1, maxFailureRatio: 0.25 } });
    sim.updateImage('app:2');
    const origStep = sim.step.bind(sim);
    let bad = 0;
    sim.step = (dt?: number) => {
      const d = origStep(dt);
      for (const c of d.plan.create) {
        if (bad++ < failing) sim.tasks.get(c.id)!.status = { ...c.status!, state: TaskState.REJECTED, err: 'no suitable node' };
      }
      return d;
    };
    sim.runUntil([UpdateState.COMPLETED, UpdateState.PAUSED]);
    return sim;
  };
  const one = run(1);
  t.is(one.service.updateStatus!.state, UpdateState.COMPLETED);
  t.is(one.service.updateStatus!.failures, 1);
  t.is(one.service.updateStatus!.message, 'update completed with 1 failed task(s)');
  const two = run(2);
  t.is(two.service.updateStatus!.state, UpdateState.PAUSED);
  t.is(two.service.updateStatus!.failures, 2);
  t.regex(two.service.updateStatus!.message, /^update paused due to failure or early termination of task t\d+ \(no suitable node\)$/);
});

test('health: a task that stays STARTING past its health deadline fails, and the status says why', (t) => {
  const sim = new UpdateSim({ replicas: 2, healthcheck: true, update: { parallelism: 1 } });
  sim.behaviour('app:sick', { kind: 'neverHealthy' });
  sim.updateImage('app:sick');
  sim.runUntil([UpdateState.PAUSED]);
  const st = sim.service.updateStatus!;
  t.regex(st.message, /^update paused due to failure or early termination of task t\d+ \(not healthy within \d+s of running\)$/);
  const sick = [...sim.tasks.values()].find((x) => x.id === st.failedTasks[0])!;
  t.is(sick.desiredState, TaskState.SHUTDOWN, 'the unhealthy task is stopped');
  t.is(sim.slotsOn('app:sick'), 0);
});

test('taskIsReady: RUNNING, and HEALTHY when a healthcheck is required (the seam for the load balancer)', (t) => {
  const sim = new UpdateSim({ replicas: 1 });
  const task = structuredClone([...sim.tasks.values()][0]!);
  t.true(taskIsReady(task, false));
  task.status!.health = HealthState.HEALTH_STARTING;
  t.false(taskIsReady(task, true));
  task.status!.health = HealthState.HEALTHY;
  t.true(taskIsReady(task, true));
  task.status!.state = TaskState.STARTING;
  t.false(taskIsReady(task, false));
});

// A leader change at every point of an update: the new leader (a fresh tracker on the same store
// state) resumes it, never restarting from scratch or updating a slot twice.
const leaderChangeCases: Array<{ name: string; update: Partial<UpdateConfig>; healthcheck?: boolean; promoteAt?: boolean }> = [
  { name: 'stop-first, parallelism 2, delay', update: { parallelism: 2, delay: msDuration(700) } },
  { name: 'start-first, parallelism 3', update: { parallelism: 3, order: UpdateOrder.START_FIRST } },
  { name: 'healthcheck, parallelism 1', update: { parallelism: 1 }, healthcheck: true },
  { name: 'canary, auto promote', update: { parallelism: 2, canary: { enabled: true, autoPromoteAfter: msDuration(3000) } } },
];
for (const c of leaderChangeCases) {
  test(`leader change at any step (${c.name}): resumes, each slot updated exactly once`, (t) => {
    const steps = new UpdateSim({ replicas: 6, update: c.update, healthcheck: c.healthcheck ?? false });
    steps.updateImage('app:2');
    const startedAt = steps.now;
    steps.runUntil([UpdateState.COMPLETED]);
    const total = (steps.now - startedAt) / 100;
    for (let k = 1; k < total; k += 3) {
      const sim = new UpdateSim({ replicas: 6, update: c.update, healthcheck: c.healthcheck ?? false });
      sim.updateImage('app:2');
      for (let i = 0; i < k; i++) sim.step();
      const begun = sim.service.updateStatus?.startedAt;
      sim.leaderChange();
      sim.runUntil([UpdateState.COMPLETED]);
      t.is(sim.service.updateStatus!.startedAt, begun ?? sim.service.updateStatus!.startedAt, `k=${k}: the same update went on`);
      t.is(sim.createsBySlot.size, 6, `k=${k}`);
      t.true(onceEach(sim), `k=${k}: ${JSON.stringify([...sim.createsBySlot])}`);
      t.is(sim.running('app:2').length, 6, `k=${k}`);
      t.is(sim.running('app:1').length, 0, `k=${k}`);
    }
  });
}

test('leader change while a canary waits: still waiting on the new leader, promotion continues it', (t) => {
  const sim = new UpdateSim({ replicas: 6, update: { parallelism: 2, canary: { enabled: true, autoPromoteAfter: undefined } } });
  sim.updateImage('app:2');
  sim.runUntil([UpdateState.CANARY_WAITING]);
  sim.leaderChange();
  for (let i = 0; i < 100; i++) sim.step();
  t.is(sim.service.updateStatus!.state, UpdateState.CANARY_WAITING);
  t.is(sim.slotsOn('app:2'), 2);
  sim.promote();
  sim.runUntil([UpdateState.COMPLETED]);
  t.true(onceEach(sim));
  t.is(sim.slotsOn('app:2'), 6);
});

test('leader change during an automatic rollback: the rollback completes and is not rolled back', (t) => {
  const sim = new UpdateSim({
    replicas: 6,
    update: { parallelism: 2, failureAction: UpdateFailureAction.ROLLBACK_ON_FAILURE },
    rollback: { parallelism: 1, failureAction: UpdateFailureAction.ROLLBACK_ON_FAILURE },
  });
  sim.behaviour('app:bad', { kind: 'failOnStart' });
  sim.updateImage('app:bad');
  sim.runUntil([UpdateState.ROLLBACK_STARTED]);
  sim.step();
  sim.step();
  sim.leaderChange();
  sim.runUntil([UpdateState.ROLLBACK_COMPLETED]);
  t.is(sim.slotsOn('app:1'), 6);
  t.is(sim.decisions.filter((d) => d.rollback).length, 1);
  t.true(onceEach(sim));
});
