import test from 'ava';
import { NodeAvailability, NodeState, TaskState } from '@shoal/api';
import { reconcileReplicated, reconcileService, type Updater } from '../../src/orchestrator/index.js';
import { node } from '../scheduler/_fixtures.js';
import { Harness, service, slotsOf } from './_harness.js';

const nodes = [node('n1'), node('n2')];

test('creates tasks for slots 1..N with the service spec', (t) => {
  const h = new Harness();
  const s = service({ replicas: 3, version: 7 });
  const p = h.apply(reconcileReplicated(s, [], nodes, h.ctx()));
  t.deepEqual(slotsOf(p.create), [1, 2, 3]);
  for (const c of p.create) {
    t.is(c.desiredState, TaskState.RUNNING);
    t.is(c.status!.state, TaskState.NEW);
    t.is(c.serviceId, 'svc');
    t.is(c.specVersion!.index, 7);
    t.deepEqual(c.spec, s.spec!.task);
    t.is(c.nodeId, '');
  }
  t.deepEqual(p.update, []);
  // idempotent: nothing more to do
  const again = reconcileReplicated(s, h.all(), nodes, h.ctx());
  t.deepEqual([again.create, again.update, again.delete], [[], [], []]);
});

test('scale up fills the missing slots only', (t) => {
  const h = new Harness();
  h.apply(reconcileReplicated(service({ replicas: 2 }), [], nodes, h.ctx()));
  const p = h.apply(reconcileReplicated(service({ replicas: 5 }), h.all(), nodes, h.ctx()));
  t.deepEqual(slotsOf(p.create), [3, 4, 5]);
});

test('scale down shuts down the highest slots first', (t) => {
  const h = new Harness();
  h.apply(reconcileReplicated(service({ replicas: 5 }), [], nodes, h.ctx()));
  h.runAll();
  const p = h.apply(reconcileReplicated(service({ replicas: 2 }), h.all(), nodes, h.ctx()));
  t.deepEqual(p.create, []);
  t.deepEqual(slotsOf(p.update), [3, 4, 5]);
  t.true(p.update.every((u) => u.desiredState === TaskState.SHUTDOWN));
  t.deepEqual(slotsOf(h.active()), [1, 2]);
});

test('scale down with gaps keeps the lowest live slots', (t) => {
  const h = new Harness();
  h.apply(reconcileReplicated(service({ replicas: 6 }), [], nodes, h.ctx()));
  const slot3 = h.all().find((x) => x.slot === 3)!;
  h.tasks.delete(slot3.id);
  const p = h.apply(reconcileReplicated(service({ replicas: 3 }), h.all(), nodes, h.ctx()));
  t.deepEqual(slotsOf(p.update), [5, 6]);
  t.deepEqual(slotsOf(h.active()), [1, 2, 4]);
});

test('scale to zero and back', (t) => {
  const h = new Harness();
  h.apply(reconcileReplicated(service({ replicas: 2 }), [], nodes, h.ctx()));
  h.runAll();
  h.apply(reconcileReplicated(service({ replicas: 0 }), h.all(), nodes, h.ctx()));
  t.deepEqual(h.active(), []);
  for (const x of h.all()) h.observe(x.id, TaskState.SHUTDOWN);
  const p = h.apply(reconcileReplicated(service({ replicas: 2 }), h.all(), nodes, h.ctx()));
  t.deepEqual(slotsOf(p.create), [1, 2]);
});

test('tasks on a down, drained or removed node are replaced at once', (t) => {
  for (const lost of [node('n1', { state: NodeState.NODE_DOWN }), node('n1', { availability: NodeAvailability.DRAIN }), undefined]) {
    const h = new Harness();
    h.apply(reconcileReplicated(service({ replicas: 1 }), [], nodes, h.ctx()));
    h.runAll('n1');
    const ns = [node('n2'), ...(lost ? [lost] : [])];
    const p = h.apply(reconcileReplicated(service({ replicas: 1 }), h.all(), ns, h.ctx()));
    t.is(p.update.length, 1);
    t.is(p.update[0]!.desiredState, TaskState.SHUTDOWN);
    t.is(p.create.length, 1);
    t.is(p.create[0]!.slot, 1);
    t.is(p.create[0]!.desiredState, TaskState.RUNNING, 'no restart delay for a move');
    t.is(p.create[0]!.restartAttempt, 0, 'a move is not a restart');
  }
});

test('paused, unknown and disconnected nodes keep their tasks', (t) => {
  for (const n of [node('n1', { availability: NodeAvailability.PAUSE }), node('n1', { state: NodeState.NODE_UNKNOWN }), node('n1', { state: NodeState.NODE_DISCONNECTED })]) {
    const h = new Harness();
    h.apply(reconcileReplicated(service({ replicas: 1 }), [], [n], h.ctx()));
    h.runAll('n1');
    const p = reconcileReplicated(service({ replicas: 1 }), h.all(), [n], h.ctx());
    t.deepEqual([p.create.length, p.update.length], [0, 0]);
  }
});

test('two runnable tasks in one slot: the newest is kept', (t) => {
  const h = new Harness();
  h.apply(reconcileReplicated(service({ replicas: 1 }), [], nodes, h.ctx()));
  const first = h.all()[0]!;
  h.advance(1000);
  h.tasks.set('dup', { ...first, id: 'dup', meta: { version: 1, createdAt: new Date(h.now).toISOString() } });
  const p = h.apply(reconcileReplicated(service({ replicas: 1 }), h.all(), nodes, h.ctx()));
  t.deepEqual(p.update.map((u) => [u.id, u.desiredState]), [[first.id, TaskState.SHUTDOWN]]);
  t.deepEqual(p.create, []);
});

test('dirty tasks go to the updater; the default replaces them all at once', (t) => {
  const h = new Harness();
  h.apply(reconcileReplicated(service({ replicas: 3, version: 1 }), [], nodes, h.ctx()));
  h.runAll();
  const seen: string[][] = [];
  const updater: Updater = { onDirty: (_s, dirty) => void seen.push(dirty.map((d) => d.id)) };
  const p1 = reconcileReplicated(service({ replicas: 3, version: 2 }), h.all(), nodes, h.ctx({ updater }));
  t.is(seen[0]!.length, 3);
  t.deepEqual([p1.create.length, p1.update.length], [0, 0], 'custom updater decides');
  const p2 = h.apply(reconcileReplicated(service({ replicas: 3, version: 2 }), h.all(), nodes, h.ctx()));
  t.is(p2.update.filter((u) => u.desiredState === TaskState.SHUTDOWN).length, 3);
  t.deepEqual(slotsOf(p2.create), [1, 2, 3]);
  t.true(p2.create.every((c) => c.specVersion!.index === 2));
  t.deepEqual(slotsOf(h.active()), [1, 2, 3]);
});

test('scale down and dirty at once: only the kept slots are updated', (t) => {
  const h = new Harness();
  h.apply(reconcileReplicated(service({ replicas: 4, version: 1 }), [], nodes, h.ctx()));
  h.runAll();
  const p = h.apply(reconcileReplicated(service({ replicas: 2, version: 2 }), h.all(), nodes, h.ctx()));
  t.deepEqual(slotsOf(p.create), [1, 2]);
  t.deepEqual(slotsOf(h.active()), [1, 2]);
});

test('reconcileService dispatches on mode and applies history retention', (t) => {
  const h = new Harness();
  const s = service({ replicas: 1 });
  h.apply(reconcileService(s, [], nodes, h.ctx({ historyLimit: 2 })));
  for (let i = 0; i < 5; i++) {
    const cur = h.active()[0]!;
    h.observe(cur.id, TaskState.FAILED, 'n1');
    h.apply(reconcileService(s, h.all(), nodes, h.ctx({ historyLimit: 2 })));
  }
  t.is(h.all().length, 3, '1 runnable + 2 old');
  t.is(h.active().length, 1);
});
