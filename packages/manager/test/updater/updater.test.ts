// The rolling updater's decisions, driven through a synchronous deterministic harness.
import test from 'ava';
import { msDuration, TaskState, UpdateFailureAction, UpdateOrder, UpdateState } from '@shoal/api';
import { UpdateSim } from './harness.js';

const inFlightSlots = (sim: UpdateSim, image: string): number =>
  [...sim.tasks.values()].filter((t) => t.spec?.container?.image === image && t.desiredState <= TaskState.RUNNING && t.status!.state !== TaskState.RUNNING).length;

test('parallelism 2, stop-first: never more than 2 slots in flight, every slot updated exactly once', (t) => {
  const sim = new UpdateSim({ replicas: 10, update: { parallelism: 2 } });
  sim.updateImage('app:2');
  let maxInFlight = 0;
  sim.runUntil([UpdateState.COMPLETED], 600_000, () => {
    maxInFlight = Math.max(maxInFlight, inFlightSlots(sim, 'app:2'));
  });
  t.is(maxInFlight, 2);
  t.is(sim.running('app:2').length, 10);
  t.is(sim.running('app:1').length, 0);
  t.is(sim.createsBySlot.size, 10);
  t.true([...sim.createsBySlot.values()].every((n) => n === 1));
  t.is(sim.service.updateStatus!.message, 'update completed');
  t.truthy(sim.service.updateStatus!.completedAt);
});

test('stop-first: a slot never runs its old and new task at once', (t) => {
  const sim = new UpdateSim({ replicas: 4, update: { parallelism: 2 } });
  sim.updateImage('app:2');
  sim.runUntil([UpdateState.COMPLETED], 600_000, () => {
    for (let slot = 1; slot <= 4; slot++) {
      const running = [...sim.tasks.values()].filter((x) => x.slot === slot && x.status!.state === TaskState.RUNNING);
      t.true(running.length <= 1, `slot ${slot} runs ${running.length} tasks at ${sim.now}`);
    }
  });
});

test('stop-first: the new task starts only after the old one has stopped, even when stopping is slow', (t) => {
  // Found by the e2e tests on real containers: the old task, once desired SHUTDOWN, was no longer
  // looked at, so the new one was started while the old container was still stopping and the
  // slot's worker was freed early (more than `parallelism` slots in transition).
  const sim = new UpdateSim({ replicas: 6, update: { parallelism: 2 }, startLatencyMs: 100, stopLatencyMs: 3000 });
  sim.updateImage('app:2');
  let widest = 0;
  sim.runUntil([UpdateState.COMPLETED], 600_000, () => {
    const busy = new Set<number>();
    for (const x of sim.tasks.values()) {
      const st = x.status!.state;
      if ((x.desiredState <= TaskState.RUNNING && st < TaskState.RUNNING) || (x.desiredState > TaskState.RUNNING && st <= TaskState.RUNNING)) busy.add(x.slot);
    }
    widest = Math.max(widest, busy.size);
    for (let slot = 1; slot <= 6; slot++) {
      const running = [...sim.tasks.values()].filter((x) => x.slot === slot && x.status!.state === TaskState.RUNNING);
      t.true(running.length <= 1, `slot ${slot} runs ${running.length} tasks at ${sim.now}`);
    }
  });
  t.is(widest, 2, 'never more than 2 slots in transition (stopping old or starting new)');
  t.is(sim.running('app:2').length, 6);
});

test('parallelism 0 updates every slot at once', (t) => {
  const sim = new UpdateSim({ replicas: 6, update: { parallelism: 0 } });
  sim.updateImage('app:2');
  sim.step();
  t.is(sim.decisions.at(-1)!.plan.create.length, 6);
  sim.runUntil([UpdateState.COMPLETED]);
  t.is(sim.running('app:2').length, 6);
});

test('start-first keeps at least N tasks running throughout the update', (t) => {
  const sim = new UpdateSim({ replicas: 5, update: { parallelism: 2, order: UpdateOrder.START_FIRST } });
  sim.updateImage('app:2');
  let minRunning = Infinity;
  let maxRunning = 0;
  sim.runUntil([UpdateState.COMPLETED], 600_000, () => {
    minRunning = Math.min(minRunning, sim.running().length);
    maxRunning = Math.max(maxRunning, sim.running().length);
  });
  t.true(minRunning >= 5, `running dropped to ${minRunning}`);
  t.true(maxRunning > 5, 'start-first should overlap old and new tasks');
  t.is(sim.running('app:2').length, 5);
});

test('delay separates the slots a worker updates', (t) => {
  const sim = new UpdateSim({ replicas: 3, update: { parallelism: 1, delay: msDuration(5000), monitor: msDuration(0) } });
  sim.updateImage('app:2');
  const createdAt: number[] = [];
  sim.runUntil([UpdateState.COMPLETED], 600_000, () => {
    for (const c of sim.decisions.at(-1)!.plan.create) createdAt.push(sim.now);
  });
  t.is(createdAt.length, 3);
  t.true(createdAt[1]! - createdAt[0]! >= 5000, `gap ${createdAt[1]! - createdAt[0]!}`);
  t.true(createdAt[2]! - createdAt[1]! >= 5000);
  t.true(sim.decisions.some((d) => d.wakeAt !== undefined), 'the updater asks to be woken for the delay');
});

test('failure action pause: the update pauses naming the failed task, and starts no more slots', (t) => {
  const sim = new UpdateSim({ replicas: 6, update: { parallelism: 1 } });
  sim.behaviour('app:bad', { kind: 'failOnStart' });
  sim.updateImage('app:bad');
  sim.runUntil([UpdateState.PAUSED]);
  const st = sim.service.updateStatus!;
  t.regex(st.message, /^update paused due to failure or early termination of task t\d+ \(task: non-zero exit \(1\)\)$/);
  t.is(st.failures, 1);
  const created = sim.createsBySlot.size;
  for (let i = 0; i < 100; i++) sim.step();
  t.is(sim.createsBySlot.size, created, 'a paused update starts no new slots');
  t.is(sim.service.updateStatus!.state, UpdateState.PAUSED);
});

test('failure action continue: failures are counted but the update goes on', (t) => {
  const sim = new UpdateSim({ replicas: 4, update: { parallelism: 2, failureAction: UpdateFailureAction.CONTINUE_ON_FAILURE } });
  sim.behaviour('app:bad', { kind: 'failOnStart' });
  sim.updateImage('app:bad');
  sim.runUntil([UpdateState.COMPLETED]);
  t.is(sim.service.updateStatus!.failures, 4);
  t.is(sim.createsBySlot.size, 4);
});

test('max failure ratio tolerates failures up to the ratio', (t) => {
  const sim = new UpdateSim({ replicas: 10, update: { parallelism: 1, maxFailureRatio: 0.25 } });
  // the first two new tasks fail within the monitor window, later ones are fine
  let bad = 0;
  sim.behaviour('app:2', { kind: 'ok' });
  sim.updateImage('app:2');
  const origStep = sim.step.bind(sim);
  sim.step = (dt?: number) => {
    const d = origStep(dt);
    for (const c of d.plan.create) {
      if (bad < 2) {
        bad++;
        sim.tasks.get(c.id)!.spec!.container!.image = 'app:2'; // same spec
        sim.behaviours.set(`fail-${c.id}`, { kind: 'failOnStart' });
        sim.tasks.get(c.id)!.status!.state = TaskState.REJECTED;
      }
    }
    return d;
  };
  sim.runUntil([UpdateState.COMPLETED, UpdateState.PAUSED]);
  t.is(sim.service.updateStatus!.state, UpdateState.COMPLETED, JSON.stringify(sim.service.updateStatus));
  t.is(sim.service.updateStatus!.failures, 2);
});

test('exceeding the ratio pauses', (t) => {
  const sim = new UpdateSim({ replicas: 4, update: { parallelism: 4, maxFailureRatio: 0.25 } });
  sim.behaviour('app:bad', { kind: 'failOnStart' });
  sim.updateImage('app:bad');
  sim.runUntil([UpdateState.PAUSED]);
  t.true(sim.service.updateStatus!.failures / 4 > 0.25);
});

test('a task that exits within the monitor window fails the update; after it, it does not', (t) => {
  const within = new UpdateSim({ replicas: 2, update: { parallelism: 1, monitor: msDuration(5000) } });
  within.behaviour('app:2', { kind: 'exitAfter', ms: 2000 });
  within.updateImage('app:2');
  within.runUntil([UpdateState.PAUSED]);
  t.is(within.service.updateStatus!.failures, 1);

  const after = new UpdateSim({ replicas: 2, update: { parallelism: 1, monitor: msDuration(1000) } });
  after.behaviour('app:2', { kind: 'exitAfter', ms: 3000 });
  after.updateImage('app:2');
  // the first task passes its 1 s monitor window, then exits: no failure is counted for it
  after.runUntil([UpdateState.COMPLETED, UpdateState.PAUSED]);
  t.is(after.service.updateStatus!.failures, 0);
});

test('failure action rollback returns to the previous spec with the rollback config', (t) => {
  const sim = new UpdateSim({
    replicas: 6,
    update: { parallelism: 2, failureAction: UpdateFailureAction.ROLLBACK_ON_FAILURE },
    rollback: { parallelism: 0 },
  });
  sim.behaviour('app:bad', { kind: 'failOnStart' });
  sim.updateImage('app:bad');
  sim.runUntil([UpdateState.ROLLBACK_STARTED]);
  t.regex(sim.service.updateStatus!.message, /^update rolled back due to failure or early termination of task t\d+/);
  t.is(sim.service.spec!.task!.container!.image, 'app:1');
  t.is(sim.service.previousSpec!.task!.container!.image, 'app:bad');
  sim.runUntil([UpdateState.ROLLBACK_COMPLETED]);
  t.is(sim.service.updateStatus!.message, 'rollback completed');
  t.is(sim.slotsOn('app:1'), 6);
  t.is(sim.slotsOn('app:bad'), 0);
});

test('a rollback is never itself rolled back: it pauses', (t) => {
  const sim = new UpdateSim({
    replicas: 3,
    update: { parallelism: 1, failureAction: UpdateFailureAction.ROLLBACK_ON_FAILURE },
    rollback: { parallelism: 1, failureAction: UpdateFailureAction.ROLLBACK_ON_FAILURE },
  });
  sim.behaviour('app:bad', { kind: 'failOnStart' });
  sim.behaviour('app:1', { kind: 'failOnStart' }); // the old image cannot start any more either
  sim.updateImage('app:bad');
  sim.runUntil([UpdateState.ROLLBACK_STARTED]);
  sim.runUntil([UpdateState.ROLLBACK_PAUSED, UpdateState.ROLLBACK_COMPLETED]);
  t.is(sim.service.updateStatus!.state, UpdateState.ROLLBACK_PAUSED);
  t.regex(sim.service.updateStatus!.message, /^rollback paused due to failure/);
  t.is(sim.decisions.filter((d) => d.rollback).length, 1);
});

test('a leader change in the middle resumes the update without updating any slot twice', (t) => {
  const sim = new UpdateSim({ replicas: 8, update: { parallelism: 2 } });
  sim.updateImage('app:2');
  for (let i = 0; i < 6; i++) sim.step();
  const before = sim.service.updateStatus!.updated.length;
  t.true(before > 0 && before < 8, `mid-update (${before} slots updated)`);
  sim.leaderChange();
  sim.runUntil([UpdateState.COMPLETED]);
  t.is(sim.createsBySlot.size, 8);
  t.true([...sim.createsBySlot.values()].every((n) => n === 1), JSON.stringify([...sim.createsBySlot]));
  t.is(sim.running('app:2').length, 8);
});

test('health gating: a new task counts only once healthy; one that never becomes healthy fails', (t) => {
  const sim = new UpdateSim({ replicas: 2, healthcheck: true, healthyAfterMs: 2000, update: { parallelism: 1 } });
  sim.updateImage('app:2');
  let secondCreatedBeforeHealthy = false;
  sim.runUntil([UpdateState.COMPLETED], 600_000, () => {
    const fresh = [...sim.tasks.values()].filter((x) => x.spec?.container?.image === 'app:2');
    if (fresh.length === 2 && fresh[0]!.status!.health !== 2 /* HEALTHY */) secondCreatedBeforeHealthy = true;
  });
  t.false(secondCreatedBeforeHealthy, 'the second slot waited for the first to be healthy');

  const never = new UpdateSim({ replicas: 2, healthcheck: true, update: { parallelism: 1 } });
  never.behaviour('app:sick', { kind: 'neverHealthy' });
  never.updateImage('app:sick');
  never.runUntil([UpdateState.PAUSED]);
  t.is(never.service.updateStatus!.failures, 1);
});

test('canary: holds after the first batch until promoted', (t) => {
  const sim = new UpdateSim({ replicas: 6, update: { parallelism: 2, canary: { enabled: true, autoPromoteAfter: undefined } } });
  sim.updateImage('app:2');
  sim.runUntil([UpdateState.CANARY_WAITING]);
  t.is(sim.slotsOn('app:2'), 2);
  t.regex(sim.service.updateStatus!.message, /waiting for promotion \(shoal service update --promote web\)/);
  for (let i = 0; i < 200; i++) sim.step();
  t.is(sim.slotsOn('app:2'), 2, 'nothing more is updated while waiting');
  sim.promote();
  sim.runUntil([UpdateState.COMPLETED]);
  t.is(sim.slotsOn('app:2'), 6);
});

test('canary with auto promotion continues after the healthy period', (t) => {
  const sim = new UpdateSim({ replicas: 4, update: { parallelism: 1, canary: { enabled: true, autoPromoteAfter: msDuration(10_000) } } });
  sim.updateImage('app:2');
  sim.runUntil([UpdateState.CANARY_WAITING]);
  const waitingSince = sim.now;
  sim.runUntil([UpdateState.COMPLETED]);
  t.true(sim.now - waitingSince >= 10_000);
  t.is(sim.slotsOn('app:2'), 4);
  t.true(sim.decisions.some((d) => d.status?.message.startsWith('canary promoted automatically')));
});

test('no update starts when every task runs the current spec', (t) => {
  const sim = new UpdateSim({ replicas: 3, update: { parallelism: 1 } });
  const d = sim.step();
  t.is(d.plan.create.length, 0);
  t.is(d.status, undefined);
});
