import test from 'ava';
import { RestartCondition, TaskState } from '@shoal/api';
import { reconcileReplicated } from '../../src/orchestrator/index.js';
import { node } from '../scheduler/_fixtures.js';
import { Harness, service } from './_harness.js';

const nodes = [node('n1')];

function failOnce(h: Harness, s: ReturnType<typeof service>, state = TaskState.FAILED) {
  const cur = h.active()[0]!;
  h.observe(cur.id, state, 'n1');
  return h.apply(reconcileReplicated(s, h.all(), nodes, h.ctx()));
}

test('condition any restarts failed and completed tasks; the old one is shut down', (t) => {
  for (const state of [TaskState.FAILED, TaskState.COMPLETE, TaskState.REJECTED]) {
    const h = new Harness();
    const s = service({ replicas: 1, restart: { condition: RestartCondition.RESTART_ANY } });
    h.apply(reconcileReplicated(s, [], nodes, h.ctx()));
    const old = h.active()[0]!;
    const p = failOnce(h, s, state);
    t.deepEqual(p.update.map((u) => [u.id, u.desiredState]), [[old.id, TaskState.SHUTDOWN]]);
    t.is(p.create.length, 1);
    t.is(p.create[0]!.slot, 1);
    t.is(p.create[0]!.restartAttempt, 1);
  }
});

test('condition on-failure does not restart a completed task; the slot is given up', (t) => {
  const h = new Harness();
  const s = service({ replicas: 1, restart: { condition: RestartCondition.RESTART_ON_FAILURE } });
  h.apply(reconcileReplicated(s, [], nodes, h.ctx()));
  const p = failOnce(h, s, TaskState.COMPLETE);
  t.is(p.create.length, 0);
  t.is(p.update[0]!.desiredState, TaskState.COMPLETE);
  // stays given up on later passes (not refilled)
  const again = reconcileReplicated(s, h.all(), nodes, h.ctx());
  t.deepEqual([again.create.length, again.update.length], [0, 0]);
  // ... but a failure is restarted
  const h2 = new Harness();
  h2.apply(reconcileReplicated(s, [], nodes, h2.ctx()));
  t.is(failOnce(h2, s, TaskState.FAILED).create.length, 1);
});

test('condition none never restarts; a new spec refills the slot', (t) => {
  const h = new Harness();
  const s = service({ replicas: 2, restart: { condition: RestartCondition.RESTART_NONE } });
  h.apply(reconcileReplicated(s, [], nodes, h.ctx()));
  const p = failOnce(h, s);
  t.is(p.create.length, 0);
  t.is(h.active().length, 1);
  const s2 = service({ replicas: 2, version: 2, restart: { condition: RestartCondition.RESTART_NONE } });
  const p2 = h.apply(reconcileReplicated(s2, h.all(), nodes, h.ctx()));
  t.true(p2.create.some((c) => c.slot === 1), 'given-up slot of the old spec is refilled');
});

test('scaling up again after a given-up slot does not reuse it', (t) => {
  const h = new Harness();
  const s = (n: number) => service({ replicas: n, restart: { condition: RestartCondition.RESTART_NONE } });
  h.apply(reconcileReplicated(s(2), [], nodes, h.ctx()));
  const slot1 = h.all().find((x) => x.slot === 1)!;
  h.observe(slot1.id, TaskState.FAILED, 'n1');
  h.apply(reconcileReplicated(s(2), h.all(), nodes, h.ctx()));
  const p = h.apply(reconcileReplicated(s(3), h.all(), nodes, h.ctx()));
  t.deepEqual(p.create.map((c) => c.slot), [3]);
});

test('delay: the replacement waits in desired READY, then is started; wakeAt says when', (t) => {
  const h = new Harness();
  const s = service({ replicas: 1, restart: { delayMs: 10_000 } });
  h.apply(reconcileReplicated(s, [], nodes, h.ctx()));
  const p = failOnce(h, s);
  const repl = p.create[0]!;
  t.is(repl.desiredState, TaskState.READY);
  t.is(p.wakeAt, h.now + 10_000);
  h.advance(9_999);
  const early = reconcileReplicated(s, h.all(), nodes, h.ctx());
  t.deepEqual([early.create.length, early.update.length], [0, 0]);
  t.is(early.wakeAt, h.now + 1);
  h.advance(1);
  const due = h.apply(reconcileReplicated(s, h.all(), nodes, h.ctx()));
  t.deepEqual(due.update.map((u) => [u.id, u.desiredState]), [[repl.id, TaskState.RUNNING]]);
  t.is(due.wakeAt, undefined);
});

test('default restart delay is 5s when the policy has none', (t) => {
  const h = new Harness();
  const s = service({ replicas: 1 });
  s.spec!.task!.restart = undefined;
  h.apply(reconcileReplicated(s, [], nodes, h.ctx()));
  const p = failOnce(h, s);
  t.is(p.create[0]!.desiredState, TaskState.READY);
  t.is(p.wakeAt, h.now + 5_000);
});

test('max attempts without a window', (t) => {
  const h = new Harness();
  const s = service({ replicas: 1, restart: { maxAttempts: 2 } });
  h.apply(reconcileReplicated(s, [], nodes, h.ctx()));
  t.is(failOnce(h, s).create.length, 1, 'restart 1');
  t.is(failOnce(h, s).create.length, 1, 'restart 2');
  const p = failOnce(h, s);
  t.is(p.create.length, 0, 'no restart 3');
  t.is(p.update[0]!.desiredState, TaskState.COMPLETE);
});

test('max attempts within a window: old restarts fall out of it', (t) => {
  const h = new Harness();
  const s = service({ replicas: 1, restart: { maxAttempts: 2, windowMs: 60_000 } });
  h.apply(reconcileReplicated(s, [], nodes, h.ctx()));
  h.advance(1000);
  t.is(failOnce(h, s).create.length, 1);
  h.advance(1000);
  t.is(failOnce(h, s).create.length, 1);
  h.advance(1000);
  // two restarts in the last minute: the third failure is not restarted...
  const h2 = new Harness();
  h2.tasks = new Map(h.tasks);
  h2.now = h.now;
  t.is(failOnce(h2, s).create.length, 0);
  // ...unless the earlier restarts are older than the window
  h.advance(60_000);
  t.is(failOnce(h, s).create.length, 1);
});

test('a task shut down by the orchestrator is not restarted by the policy', (t) => {
  const h = new Harness();
  h.apply(reconcileReplicated(service({ replicas: 2 }), [], nodes, h.ctx()));
  h.runAll();
  h.apply(reconcileReplicated(service({ replicas: 1 }), h.all(), nodes, h.ctx()));
  const gone = h.all().find((x) => x.slot === 2)!;
  h.observe(gone.id, TaskState.SHUTDOWN);
  const p = reconcileReplicated(service({ replicas: 1 }), h.all(), nodes, h.ctx());
  t.deepEqual([p.create.length, p.update.length], [0, 0]);
});
