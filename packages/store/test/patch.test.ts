import test from 'ava';
import { TaskState, type ShoalError, type Task } from '@shoal/api';
import { Store, decodeEntry, encodeEntry } from '../src/index.js';
import { SharedLog, counterIds, task, testClock } from './_helpers.js';

/** A store whose proposals are kept, each applied at once. */
function recording(): { store: Store; log: Uint8Array[] } {
  const log: Uint8Array[] = [];
  const store: Store = new Store({
    clock: testClock(),
    newId: counterIds(),
    proposer: {
      propose: async (entry) => {
        log.push(entry);
        const index = log.length;
        const r = store.apply(entry, index);
        if (!r.applied) throw new Error('not applied');
        return { index };
      },
    },
  });
  return { store, log };
}

test('an update names the fields it changes: a status report is a patch of status alone, smaller than the task, and applies to what a full update gives', async (t) => {
  const { store, log } = recording();
  await store.update((tx) => tx.tasks.create(task('t1', 's1', 1)));
  const before = store.view((v) => v.tasks.get('t1')!);
  await store.update((tx) => {
    const cur = tx.tasks.get('t1')!;
    tx.tasks.update({ ...cur, status: { ...cur.status!, state: TaskState.RUNNING, message: 'started' } });
  });
  const e = decodeEntry(log[1]!);
  t.is(e.actions.length, 1);
  t.is(e.actions[0]!.op, 'patch');
  t.deepEqual(e.actions[0]!.fields, ['status']);
  t.true(log[1]!.length < log[0]!.length / 2, `patch entry ${log[1]!.length} B, create entry ${log[0]!.length} B`);
  const after = store.view((v) => v.tasks.get('t1')!);
  const expected = { ...before, status: { ...before.status!, state: TaskState.RUNNING, message: 'started' } };
  t.deepEqual({ ...after, meta: undefined }, { ...expected, meta: undefined });
  t.is(after.meta!.version, 2);
  t.is(after.meta!.createdAt, before.meta!.createdAt);
  t.is(after.spec, before.spec, 'the spec is the old version\'s object');
  t.true(Object.isFrozen(after) && Object.isFrozen(after.status));
  t.is(before.status!.state, TaskState.PENDING, 'the old version is unchanged');

  // placement: node and status; a field cleared to its default is named too
  await store.update((tx) => {
    const cur = tx.tasks.get('t1')!;
    tx.tasks.update({ ...cur, nodeId: 'n1', annotations: undefined, status: { ...cur.status!, state: TaskState.ASSIGNED } });
  });
  t.deepEqual([...decodeEntry(log[2]!).actions[0]!.fields!].sort(), ['annotations', 'nodeId', 'status']);
  const placed = store.view((v) => v.tasks.get('t1')!);
  t.is(placed.nodeId, 'n1');
  t.is(placed.annotations, undefined);
  t.is(store.view((v) => v.tasks.byNode('n1')).length, 1, 'indexes follow the patched fields');
});

test('a patch checks the version it was made from; a second write in one transaction patches the committed version', async (t) => {
  const { store, log } = recording();
  await store.update((tx) => tx.tasks.create(task('t1', 's1', 1)));
  // two transactions read version 1; the second to commit is refused
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = store.update(async (tx) => {
    const cur = tx.tasks.get('t1')!;
    await gate;
    tx.tasks.update({ ...cur, nodeId: 'n2' });
  });
  await store.update((tx) => {
    const cur = tx.tasks.get('t1')!;
    tx.tasks.update({ ...cur, nodeId: 'n1' });
  });
  release();
  const err = (await t.throwsAsync(slow)) as ShoalError;
  t.is(err.code, 'Conflict');
  t.is(store.view((v) => v.tasks.get('t1')!.nodeId), 'n1');

  await store.update((tx) => {
    const cur = tx.tasks.get('t1')!;
    tx.tasks.update({ ...cur, slot: 7 });
    const mine = tx.tasks.get('t1')!;
    t.is(mine.slot, 7, 'the transaction reads its own patch');
    t.is(mine.nodeId, 'n1');
    tx.tasks.update({ ...mine, desiredState: TaskState.SHUTDOWN });
  });
  const last = decodeEntry(log[log.length - 1]!);
  t.is(last.actions.length, 1);
  t.is(last.actions[0]!.op, 'patch');
  const got = store.view((v) => v.tasks.get('t1')!);
  t.is(got.slot, 7);
  t.is(got.desiredState, TaskState.SHUTDOWN);
  t.is(got.nodeId, 'n1');
});

test('replicas applying patches agree byte for byte with each other and with a snapshot of the state', async (t) => {
  const log = new SharedLog();
  const a = log.store({ newId: counterIds() });
  const b = log.store();
  const w = a.update((tx) => {
    for (let i = 1; i <= 20; i++) tx.tasks.create(task(`t${i}`, 's1', i));
  });
  log.commit();
  await w;
  for (const state of [TaskState.ASSIGNED, TaskState.STARTING, TaskState.RUNNING]) {
    const p = a.update((tx) => {
      for (const cur of tx.tasks.all() as Task[]) tx.tasks.update({ ...cur, nodeId: `n${cur.slot % 3}`, status: { ...cur.status!, state } });
    });
    log.commit();
    await p;
  }
  t.deepEqual(b.snapshot(), a.snapshot());
  t.deepEqual(Store.restore(a.snapshot()).snapshot(), b.snapshot());
  t.is(b.view((v) => v.tasks.byNode('n1')).length, 7);
});

test('a patch that names id, meta or no field of the kind is rejected as malformed', async (t) => {
  const { store: source, log } = recording();
  await source.update((tx) => tx.tasks.create(task('t1', 's1', 1)));
  const store = new Store();
  t.true(store.apply(log[0]!, 1).applied);
  const body = decodeEntry(log[0]!).actions[0]!.body!;
  let index = 1;
  for (const field of ['id', 'meta', 'nope']) {
    const r = store.apply(encodeEntry({ timestamp: 2, actions: [{ kind: 'task', op: 'patch', id: 't1', version: 1, body, fields: [field] }] }), ++index);
    t.is(r.error?.code, 'InvalidArgument', field);
  }
  t.deepEqual(store.view((v) => v.tasks.get('t1')), source.view((v) => v.tasks.get('t1')), 'nothing changed');
});
