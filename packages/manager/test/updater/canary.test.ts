// Canary updates while they wait for promotion: the canaries stay monitored, and automatic
// promotion needs a continuous healthy period.
import test from 'ava';
import { msDuration, TaskState, UpdateFailureAction, UpdateState } from '@shoal/api';
import { UpdateSim } from './harness.js';

const canaries = (sim: UpdateSim) => [...sim.tasks.values()].filter((x) => x.spec?.container?.image === 'app:2' && x.desiredState === TaskState.RUNNING);

function crash(sim: UpdateSim, id: string): void {
  const x = sim.tasks.get(id)!;
  sim.tasks.set(id, { ...x, status: { ...x.status!, state: TaskState.FAILED, err: 'task: non-zero exit (3)', message: 'exited' } });
}

test('a canary that fails while waiting pauses the update (failure action pause)', (t) => {
  const sim = new UpdateSim({ replicas: 6, update: { parallelism: 2, canary: { enabled: true, autoPromoteAfter: undefined } } });
  sim.updateImage('app:2');
  sim.runUntil([UpdateState.CANARY_WAITING]);
  for (let i = 0; i < 30; i++) sim.step(); // well past the monitor window
  const victim = canaries(sim)[0]!;
  crash(sim, victim.id);
  sim.runUntil([UpdateState.PAUSED], 10_000);
  t.is(sim.service.updateStatus!.message, `update paused due to failure or early termination of task ${victim.id} (task: non-zero exit (3))`);
  t.deepEqual(sim.service.updateStatus!.failedTasks, [victim.id]);
  for (let i = 0; i < 100; i++) sim.step();
  t.is(sim.slotsOn('app:2'), 2, 'nothing more is updated');
});

test('a canary that fails while waiting rolls the update back (failure action rollback)', (t) => {
  const sim = new UpdateSim({
    replicas: 4,
    update: { parallelism: 1, failureAction: UpdateFailureAction.ROLLBACK_ON_FAILURE, canary: { enabled: true, autoPromoteAfter: msDuration(60_000) } },
  });
  sim.updateImage('app:2');
  sim.runUntil([UpdateState.CANARY_WAITING]);
  for (let i = 0; i < 30; i++) sim.step();
  crash(sim, canaries(sim)[0]!.id);
  sim.runUntil([UpdateState.ROLLBACK_STARTED], 10_000);
  t.regex(sim.service.updateStatus!.message, /^update rolled back due to failure or early termination of task t\d+ \(task: non-zero exit \(3\)\)$/);
  sim.runUntil([UpdateState.ROLLBACK_COMPLETED]);
  t.is(sim.slotsOn('app:1'), 4);
  t.is(sim.slotsOn('app:2'), 0);
});

test('automatic promotion needs a continuous healthy period: it restarts when a canary is not ready', (t) => {
  const sim = new UpdateSim({
    replicas: 4,
    update: { parallelism: 2, failureAction: UpdateFailureAction.CONTINUE_ON_FAILURE, canary: { enabled: true, autoPromoteAfter: msDuration(10_000) } },
  });
  sim.updateImage('app:2');
  sim.runUntil([UpdateState.CANARY_WAITING]);
  for (let i = 0; i < 50; i++) sim.step(); // 5 s into the 10 s period
  const victim = canaries(sim)[0]!;
  crash(sim, victim.id);
  sim.step();
  t.is(sim.service.updateStatus!.state, UpdateState.CANARY_WAITING, 'failure action continue: still waiting');
  t.regex(sim.service.updateStatus!.message, /^canary: 1 of 2 canary task\(s\) not ready; waiting for promotion/);
  t.is(sim.service.updateStatus!.failures, 1);
  // the restart policy brings the slot back; the 10 s start over from when it is ready again
  let readyAgain: number | undefined;
  sim.runUntil([UpdateState.UPDATING], 120_000, () => {
    if (readyAgain === undefined && sim.service.updateStatus!.message.startsWith('canary: first')) readyAgain = sim.now;
  });
  t.truthy(readyAgain, 'the message went back to waiting once every canary was ready');
  t.true(sim.now - readyAgain! >= 9_900, `promoted ${sim.now - readyAgain!} ms after the canaries were ready again`);
  t.regex(sim.service.updateStatus!.message, /^canary promoted automatically after 10s healthy$/);
  sim.runUntil([UpdateState.COMPLETED]);
  t.is(sim.slotsOn('app:2'), 4);
});
