// Structural sharing: unchanged fields of a new version are the old version's objects; what is
// stored stays equal to what was written, frozen, and identical across replicas and restores.
import test from 'ava';
import { TaskState } from '@shoal/api';
import { Store } from '../src/index.js';
import { deepEqual } from '../src/share.js';
import { counterIds, task, testClock } from './_helpers.js';

test('deepEqual: objects, arrays, byte arrays, nesting, missing vs present keys', (t) => {
  t.true(deepEqual({ a: [1, { b: 'x' }], c: new Uint8Array([1, 2]) }, { a: [1, { b: 'x' }], c: new Uint8Array([1, 2]) }));
  t.false(deepEqual({ a: [1, { b: 'x' }] }, { a: [1, { b: 'y' }] }));
  t.false(deepEqual({ c: new Uint8Array([1, 2]) }, { c: new Uint8Array([1, 3]) }));
  t.false(deepEqual({ a: 1 }, { a: 1, b: 2 }));
  t.false(deepEqual({ a: 1, b: 2 }, { a: 1 }));
  t.false(deepEqual([1, 2], { 0: 1, 1: 2 }));
  t.false(deepEqual({}, null));
});

test('a status update keeps the spec object of the previous version; tasks of a service created in one entry share theirs', async (t) => {
  const store = new Store({ clock: testClock(), newId: counterIds() });
  await store.update((tx) => {
    for (let i = 1; i <= 3; i++) tx.tasks.create(task(`t${i}`, 's1', i));
    tx.tasks.create(task('u1', 's2', 1));
  });
  const v1 = store.snapshotView();
  const [a, b, c] = ['t1', 't2', 't3'].map((id) => v1.tasks.get(id)!);
  t.is(a!.spec, b!.spec, 'one spec object for the tasks of s1');
  t.is(b!.spec, c!.spec);
  t.not(a!.spec, v1.tasks.get('u1')!.spec, 'another service: not shared');

  await store.update((tx) => {
    const cur = tx.tasks.get('t1')!;
    tx.tasks.update({ ...cur, nodeId: 'n1', status: { ...cur.status!, state: TaskState.RUNNING, message: 'started' } });
  });
  const next = store.view((v) => v.tasks.get('t1')!);
  t.is(next.spec, a!.spec, 'unchanged spec shared with the old version');
  t.not(next.status, a!.status);
  t.is(next.status?.state, TaskState.RUNNING);
  t.true(Object.isFrozen(next) && Object.isFrozen(next.status) && Object.isFrozen(next.spec));
  t.is(a!.status?.state, TaskState.PENDING, 'the old version is unchanged');

  // a replica that restores from a snapshot holds equal objects (the bytes are the same)
  const restored = Store.restore(store.snapshot());
  t.deepEqual(restored.snapshot(), store.snapshot());
  const r = restored.view((v) => ['t1', 't2', 't3'].map((id) => v.tasks.get(id)!));
  t.deepEqual(r[0], next);
  t.is(r[1]!.spec, r[2]!.spec, 'restored tasks of one service share their spec');
});
