import test from 'ava';
import { RestartCondition, TaskState } from '@shoal/api';
import { jobLimits, reconcileReplicatedJob } from '../../src/orchestrator/index.js';
import { node } from '../scheduler/_fixtures.js';
import { Harness, service } from './_harness.js';

const nodes = [node('n1')];
const job = (total: number, max: number, o: Parameters<typeof service>[0] = {}) =>
  service({ mode: { $case: 'replicatedJob', replicatedJob: { totalCompletions: total, maxConcurrent: max } }, jobIteration: 1, ...o });

test('limits defaults', (t) => {
  t.deepEqual(jobLimits(job(0, 0)), { total: 1, maxConcurrent: 1 });
  t.deepEqual(jobLimits(job(5, 0)), { total: 5, maxConcurrent: 5 });
  t.deepEqual(jobLimits(job(0, 3)), { total: 3, maxConcurrent: 3 });
  t.deepEqual(jobLimits(job(2, 9)), { total: 2, maxConcurrent: 2 });
});

test('runs at most maxConcurrent until totalCompletions completed', (t) => {
  const h = new Harness();
  const s = job(5, 2);
  const run = () => h.apply(reconcileReplicatedJob(s, h.all(), nodes, h.ctx()));
  t.deepEqual(run().create.map((c) => c.slot), [1, 2]);
  t.true(h.active().every((x) => x.jobIteration!.index === 1));
  t.is(run().create.length, 0, 'still 2 running');
  let completions = 0;
  for (let round = 0; round < 10 && completions < 5; round++) {
    const cur = h.active().filter((x) => x.desiredState === TaskState.RUNNING);
    t.true(cur.length <= 2);
    for (const x of cur) {
      h.observe(x.id, TaskState.COMPLETE, 'n1');
      completions++;
    }
    run();
  }
  t.is(h.all().filter((x) => x.status!.state === TaskState.COMPLETE).length, 5);
  t.is(h.active().length, 0);
  const done = run();
  t.deepEqual([done.create.length, done.update.length], [0, 0], 'completed tasks are not restarted');
});

test('failed job tasks are restarted per policy in their slot', (t) => {
  const h = new Harness();
  const s = job(1, 1, { restart: { condition: RestartCondition.RESTART_ON_FAILURE, maxAttempts: 1 } });
  h.apply(reconcileReplicatedJob(s, [], nodes, h.ctx()));
  h.observe(h.active()[0]!.id, TaskState.FAILED, 'n1');
  const p = h.apply(reconcileReplicatedJob(s, h.all(), nodes, h.ctx()));
  t.deepEqual(p.create.map((c) => [c.slot, c.restartAttempt]), [[1, 1]]);
  h.observe(h.active()[0]!.id, TaskState.FAILED, 'n1');
  const p2 = h.apply(reconcileReplicatedJob(s, h.all(), nodes, h.ctx()));
  t.is(p2.create.length, 0, 'max attempts reached: slot given up, not retried');
  t.is(reconcileReplicatedJob(s, h.all(), nodes, h.ctx()).create.length, 0);
});

test('condition any does not restart completed job tasks', (t) => {
  const h = new Harness();
  const s = job(1, 1, { restart: { condition: RestartCondition.RESTART_ANY } });
  h.apply(reconcileReplicatedJob(s, [], nodes, h.ctx()));
  h.observe(h.active()[0]!.id, TaskState.COMPLETE, 'n1');
  t.is(h.apply(reconcileReplicatedJob(s, h.all(), nodes, h.ctx())).create.length, 0);
});

test('iteration bump or spec change reruns the job; old running tasks stop', (t) => {
  const h = new Harness();
  h.apply(reconcileReplicatedJob(job(2, 2), [], nodes, h.ctx()));
  const [a] = h.active();
  h.observe(a!.id, TaskState.COMPLETE, 'n1');
  const p = h.apply(reconcileReplicatedJob(job(2, 2, { jobIteration: 2 }), h.all(), nodes, h.ctx()));
  t.deepEqual(p.create.map((c) => [c.slot, c.jobIteration!.index]), [[1, 2], [2, 2]]);
  // every task of iteration 1 still desired to run is told to stop (the running one and the completed one)
  t.deepEqual(p.update.map((u) => u.desiredState), [TaskState.SHUTDOWN, TaskState.SHUTDOWN]);
  t.true(p.update.some((u) => u.status!.state === TaskState.NEW), 'the still-running task of iteration 1');
  const p2 = h.apply(reconcileReplicatedJob(job(2, 2, { jobIteration: 2, version: 9 }), h.all(), nodes, h.ctx()));
  t.is(p2.create.length, 2);
  t.is(h.active().length, 2);
});

test('lost node during a job: task moved, not counted as restart', (t) => {
  const h = new Harness();
  h.apply(reconcileReplicatedJob(job(1, 1), [], nodes, h.ctx()));
  h.runAll('gone');
  const p = h.apply(reconcileReplicatedJob(job(1, 1), h.all(), nodes, h.ctx()));
  t.deepEqual(p.create.map((c) => [c.slot, c.restartAttempt]), [[1, 0]]);
});
