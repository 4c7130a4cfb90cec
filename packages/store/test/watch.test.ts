import test from 'ava';
import { ShoalError, TaskState, type Task } from '@shoal/api';
import { Store, type StoreEvent } from '../src/index.js';
import { service, task, testClock } from './_helpers.js';

const fmt = (e: StoreEvent) => (e.action === 'commit' ? `commit@${e.index}` : `${e.action} ${e.kind} ${e.object.id}@${e.index}`);

test('events come per object in entry order, then a commit event, in commit order, to every watcher', async (t) => {
  const store = new Store({ clock: testClock() });
  const w1 = store.watch();
  const w2 = store.watch({ kinds: ['task'] });
  const w3 = store.watch({ filter: (e) => e.kind === 'task' && e.object.slot === 2, commits: false });
  await store.update((tx) => {
    tx.services.create(service('s1', 'web'));
    tx.tasks.create(task('t1', 's1', 1));
    tx.tasks.create(task('t2', 's1', 2));
  });
  await store.update((tx) => {
    const x = tx.tasks.get('t2')!;
    tx.tasks.update({ ...x, desiredState: TaskState.SHUTDOWN });
    tx.tasks.delete('t1');
  });
  const all = w1.poll();
  t.deepEqual(all.map(fmt), ['create service s1@1', 'create task t1@1', 'create task t2@1', 'commit@1', 'update task t2@2', 'delete task t1@2', 'commit@2']);
  const upd = all[4]!;
  t.true(upd.action === 'update' && upd.kind === 'task' && upd.oldObject?.desiredState === TaskState.RUNNING && upd.object.desiredState === TaskState.SHUTDOWN);
  const tasksOnly = w2.poll();
  t.deepEqual(tasksOnly.map(fmt), ['create task t1@1', 'create task t2@1', 'commit@1', 'update task t2@2', 'delete task t1@2', 'commit@2']);
  t.deepEqual(w3.poll().map(fmt), ['create task t2@1', 'update task t2@2']);
  t.is(tasksOnly[0], all[1], 'events are shared between watchers, not copied');
  t.is(store.view((v) => v.tasks.get('t2')), (all[4] as { object: Task }).object, 'and so are the objects');
});

test('async iteration: a watcher started mid-stream with viewAndWatch misses nothing and sees nothing twice', async (t) => {
  const store = new Store({ clock: testClock() });
  const early = store.watch({ kinds: ['task'] });
  const seen = new Set<string>();
  let joined: Promise<string[]> | undefined;
  for (let i = 1; i <= 40; i++) {
    await store.update((tx) => tx.tasks.create(task(`t${String(i).padStart(3, '0')}`, 's', i)));
    if (i === 17) {
      // the orchestrator pattern: watch first, then read the full state
      const { view, watcher } = store.viewAndWatch({ kinds: ['task'] });
      for (const x of view.tasks.all()) seen.add(x.id);
      t.is(view.index, 17);
      joined = (async () => {
        const got: string[] = [];
        for await (const e of watcher) {
          if (e.action === 'create') got.push(e.object.id);
          if (e.action === 'commit' && e.index === 40) break;
        }
        return got;
      })();
    }
  }
  const late = await joined!;
  t.is(seen.size, 17);
  for (const id of late) {
    t.false(seen.has(id), `${id} seen twice`);
    seen.add(id);
  }
  t.is(seen.size, 40);
  t.is(store.watchers, 1, 'leaving for-await closed the watcher');
  const batches: string[] = [];
  for (const e of early.poll()) batches.push(fmt(e));
  t.is(batches.length, 80);
  t.deepEqual(batches.slice(0, 4), ['create task t001@1', 'commit@1', 'create task t002@2', 'commit@2']);
});

test('a slow watcher does not block commits: it is closed with Unavailable once it falls behind', async (t) => {
  const store = new Store({ clock: testClock() });
  const slow = store.watch({ maxQueue: 50 });
  const fast = store.watch();
  const fastGot: number[] = [];
  const consumer = (async () => {
    for await (const batch of fast.batches()) {
      for (const e of batch) if (e.action === 'commit') fastGot.push(e.index);
      if (fastGot.at(-1) === 100) break;
    }
  })();
  for (let i = 1; i <= 100; i++) await store.update((tx) => tx.tasks.create(task(`t${i}`, 's', i)));
  await consumer;
  t.is(store.index, 100, 'every commit went through');
  t.is(fastGot.length, 100);
  t.true(slow.closed);
  t.is(slow.error?.code, 'Unavailable');
  const err = await t.throwsAsync(slow.next(), { instanceOf: ShoalError });
  t.regex(err!.message, /fell behind by more than 50 events/);
  t.throws(() => slow.poll(), { instanceOf: ShoalError });
  t.is(store.watchers, 0);
});

test('restore closes watchers; close() ends iteration', async (t) => {
  const store = new Store({ clock: testClock() });
  await store.update((tx) => tx.services.create(service('s1', 'web')));
  const snap = store.snapshot();
  const w = store.watch();
  const w2 = store.watch();
  w2.close();
  t.is(await w2.next(), undefined);
  store.restore(snap);
  await t.throwsAsync(w.nextBatch(), { message: /restored from a snapshot/ });
});
