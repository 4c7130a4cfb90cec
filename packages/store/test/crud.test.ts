import test from 'ava';
import { NodeAvailability, NodeRole, ShoalError, TaskState } from '@shoal/api';
import { LocalProposer, Store, decodeEntry, mutableCopy } from '../src/index.js';
import { counterIds, network, node, service, task, testClock } from './_helpers.js';

function newStore(): Store {
  return new Store({ clock: testClock(), newId: counterIds() });
}

test('create, read, update, delete; meta.version is the log index and times come from the entry', async (t) => {
  const store = newStore();
  const r1 = await store.update((tx) => tx.services.create(service('s1', 'web')));
  t.is(r1.index, 1);
  t.is(r1.changes, 1);
  const s1 = store.view((v) => v.services.get('s1'))!;
  t.is(s1.meta?.version, 1);
  t.is(s1.meta?.createdAt, '2024-01-01T00:00:01.000Z');
  t.is(s1.meta?.updatedAt, '2024-01-01T00:00:01.000Z');
  t.is(s1.spec?.annotations?.name, 'web');

  const r2 = await store.update((tx) => {
    const s = tx.services.get('s1')!;
    tx.services.update({ ...s, spec: { ...s.spec!, annotations: { name: 'web', labels: { v: '2' } } } });
    t.deepEqual(tx.services.get('s1')!.spec?.annotations?.labels, { v: '2' }, 'reads its own writes');
  });
  t.is(r2.index, 2);
  const s2 = store.snapshotView().services.get('s1')!;
  t.is(s2.meta?.version, 2);
  t.is(s2.meta?.createdAt, '2024-01-01T00:00:01.000Z');
  t.is(s2.meta?.updatedAt, '2024-01-01T00:00:02.000Z');

  await store.update((tx) => tx.services.delete('s1'));
  t.is(store.view((v) => v.services.get('s1')), undefined);
  t.is(store.view((v) => v.services.count()), 0);
  t.is(store.index, 3);
});

test('errors: NotFound, AlreadyExists (id and name), InvalidArgument, early Conflict', async (t) => {
  const store = newStore();
  await store.update((tx) => {
    tx.services.create(service('s1', 'web'));
    tx.networks.create(network('n1', 'front'));
  });
  const code = async (fn: Parameters<Store['update']>[0]) => (await t.throwsAsync(store.update(fn), { instanceOf: ShoalError }))!.code;
  t.is(await code((tx) => tx.services.update({ ...service('nope', 'x'), meta: { version: 1 } })), 'NotFound');
  t.is(await code((tx) => tx.services.delete('nope')), 'NotFound');
  t.is(await code((tx) => tx.services.create(service('s1', 'other'))), 'AlreadyExists');
  const dup = await t.throwsAsync(store.update((tx) => tx.services.create(service('s2', 'WEB'))), { instanceOf: ShoalError });
  t.is(dup!.code, 'AlreadyExists');
  t.regex(dup!.message, /service name "web" is already used by service s1/);
  t.is(await code((tx) => tx.networks.create(network('n2', 'front'))), 'AlreadyExists');
  t.is(await code((tx) => tx.services.create(service('', 'x'))), 'InvalidArgument');
  t.is(await code((tx) => tx.services.update(service('s1', 'web'))), 'InvalidArgument');
  const stale = await t.throwsAsync(store.update((tx) => tx.services.update({ ...service('s1', 'web'), meta: { version: 7 } })));
  t.is((stale as ShoalError).code, 'Conflict');
  t.is(stale!.message, 'service s1: version 7 is stale, current is 1');
  // names may be reused once freed, and renaming into a free name works
  await store.update((tx) => {
    const s = tx.services.get('s1')!;
    tx.services.update({ ...s, spec: { ...s.spec!, annotations: { name: 'api', labels: {} } } });
    tx.services.create(service('s2', 'web'));
  });
  t.is(store.view((v) => v.services.getByName('Web')?.id), 's2');
  t.is(store.index, 2, 'failed transactions proposed nothing');
});

test('secondary indexes: tasks by service, slot, node, desired state; nodes by role and availability; prefixes', async (t) => {
  const store = newStore();
  await store.update((tx) => {
    tx.nodes.create(node('nodeA', 'alpha', NodeRole.MANAGER));
    tx.nodes.create(node('nodeB', 'beta', NodeRole.WORKER, NodeAvailability.DRAIN));
    tx.nodes.create(node('nodeC', 'gamma', NodeRole.WORKER));
    tx.services.create(service('svc1', 'web'));
    tx.services.create(service('svc2', 'webapi'));
    for (let i = 1; i <= 5; i++) tx.tasks.create(task(`t1-${i}`, 'svc1', i, i % 2 ? 'nodeA' : 'nodeB'));
    tx.tasks.create(task('t1-old', 'svc1', 2, 'nodeC', TaskState.SHUTDOWN));
    for (let i = 1; i <= 3; i++) tx.tasks.create(task(`t2-${i}`, 'svc2', i, 'nodeC'));
  });
  const v = store.snapshotView();
  const ids = (xs: { id: string }[]) => xs.map((x) => x.id);
  t.deepEqual(ids(v.tasks.byService('svc1')), ['t1-1', 't1-2', 't1-old', 't1-3', 't1-4', 't1-5']);
  t.deepEqual(ids(v.tasks.bySlot('svc1', 2)), ['t1-2', 't1-old']);
  t.deepEqual(ids(v.tasks.byNode('nodeC')), ['t1-old', 't2-1', 't2-2', 't2-3']);
  t.deepEqual(ids(v.tasks.byDesiredState(TaskState.SHUTDOWN)), ['t1-old']);
  t.is(v.tasks.byDesiredState(TaskState.RUNNING).length, 8);
  t.deepEqual(ids(v.nodes.byRole(NodeRole.WORKER)), ['nodeB', 'nodeC']);
  t.deepEqual(ids(v.nodes.byAvailability(NodeAvailability.DRAIN)), ['nodeB']);
  t.deepEqual(ids(v.nodes.byNamePrefix('g')), ['nodeC']);
  t.deepEqual(ids(v.services.byNamePrefix('WEB')), ['svc1', 'svc2']);
  t.deepEqual(ids(v.services.byName('web')), ['svc1']);
  t.deepEqual(ids(v.tasks.byIdPrefix('t2-')), ['t2-1', 't2-2', 't2-3']);
  t.is(v.tasks.count(), 9);

  // an update that moves index keys moves the entries; a delete removes them
  await store.update((tx) => {
    const x = tx.tasks.get('t1-1')!;
    tx.tasks.update({ ...x, nodeId: 'nodeC', desiredState: TaskState.SHUTDOWN });
    tx.tasks.delete('t2-3');
    // the transaction's reads merge its writes into index queries
    t.deepEqual(ids(tx.tasks.byNode('nodeC')), ['t1-1', 't1-old', 't2-1', 't2-2']);
    t.deepEqual(ids(tx.tasks.byService('svc2')), ['t2-1', 't2-2']);
    t.is(tx.tasks.count(), 8);
  });
  const w = store.snapshotView();
  t.deepEqual(ids(w.tasks.byNode('nodeA')), ['t1-3', 't1-5']);
  t.deepEqual(ids(w.tasks.byNode('nodeC')), ['t1-1', 't1-old', 't2-1', 't2-2']);
  t.deepEqual(ids(w.tasks.byDesiredState(TaskState.SHUTDOWN)), ['t1-1', 't1-old']);
  t.deepEqual(ids(v.tasks.byNode('nodeA')), ['t1-1', 't1-3', 't1-5'], 'the older view is unchanged');
});

test('views are consistent and unaffected by later commits', async (t) => {
  const store = newStore();
  await store.update((tx) => tx.services.create(service('s1', 'web')));
  const before = store.snapshotView();
  await store.update((tx) => {
    tx.services.delete('s1');
    tx.services.create(service('s2', 'api'));
  });
  t.is(before.index, 1);
  t.deepEqual(before.services.all().map((s) => s.id), ['s1']);
  t.deepEqual(store.snapshotView().services.all().map((s) => s.id), ['s2']);
});

test('returned objects are frozen and never alias caller objects', async (t) => {
  const store = newStore();
  const mine = service('s1', 'web');
  await store.update((tx) => tx.services.create(mine));
  mine.spec!.annotations!.name = 'changed-after-create';
  const s = store.view((v) => v.services.get('s1'))!;
  t.is(s.spec?.annotations?.name, 'web');
  t.true(Object.isFrozen(s) && Object.isFrozen(s.spec) && Object.isFrozen(s.spec!.annotations!.labels));
  t.throws(() => {
    (s.spec!.annotations as { name: string }).name = 'x';
  }, { instanceOf: TypeError });
  const copy = mutableCopy(s);
  copy.spec!.annotations!.name = 'x';
  t.is(store.view((v) => v.services.get('s1'))!.spec?.annotations?.name, 'web');
});

test('a transaction is one entry; create then update/delete in one transaction coalesce', async (t) => {
  const log: Uint8Array[] = [];
  const store: Store = new Store({
    clock: testClock(),
    proposer: {
      propose: async (e: Uint8Array): Promise<{ index: number }> => {
        log.push(e);
        store.apply(e, log.length);
        return { index: log.length };
      },
    },
  });
  await store.update((tx) => {
    tx.tasks.create(task('a', 's', 1));
    tx.tasks.create(task('b', 's', 2));
    const a = tx.tasks.get('a')!;
    t.is(a.meta?.version, 0);
    tx.tasks.update({ ...a, slot: 9 });
    tx.tasks.delete('b');
    tx.tasks.create(task('c', 's', 3));
  });
  t.is(log.length, 1);
  const e = decodeEntry(log[0]!);
  t.deepEqual(e.actions.map((a) => [a.op, a.id]), [['create', 'a'], ['create', 'c']]);
  t.is(store.view((v) => v.tasks.get('a'))!.slot, 9);
  const r = await store.update((tx) => tx.tasks.get('a'));
  t.is(r.changes, 0);
  t.is(log.length, 1, 'a read-only transaction proposes nothing');
});

test('tx.newId uses the injected generator; async callbacks work and late writes are refused', async (t) => {
  const store = newStore();
  let leaked: Parameters<Parameters<Store['update']>[0]>[0] | undefined;
  const { value } = await store.update(async (tx) => {
    await Promise.resolve();
    const id = tx.newId();
    tx.tasks.create(task(id, 's', 1));
    leaked = tx;
    return id;
  });
  t.is(value, 'id000001');
  t.truthy(store.view((v) => v.tasks.get('id000001')));
  t.throws(() => leaked!.tasks.create(task('late', 's', 1)), { message: /after the transaction ended/ });
  t.throws(() => (store.snapshotView().tasks as unknown as { create(x: unknown): void }).create(task('v', 's', 1)), { message: /read-only/ });
});

test('single store: a transaction that awaits while another commits is rejected at apply time with Conflict', async (t) => {
  const proposer = new LocalProposer({ keepLog: true });
  const store = new Store({ clock: testClock(), proposer });
  await store.update((tx) => tx.services.create(service('s1', 'web')));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = store.update(async (tx) => {
    const s = tx.services.get('s1')!;
    await gate; // meanwhile another transaction changes s1
    tx.services.update({ ...s, spec: { ...s.spec!, annotations: { name: 'web', labels: { by: 'slow' } } } });
    tx.tasks.create(task('t-slow', 's1', 1));
  });
  await store.update((tx) => {
    const s = tx.services.get('s1')!;
    tx.services.update({ ...s, spec: { ...s.spec!, annotations: { name: 'web', labels: { by: 'fast' } } } });
  });
  release();
  const err = await t.throwsAsync(slow, { instanceOf: ShoalError });
  t.is(err!.code, 'Conflict');
  t.is(err!.message, 'service s1: version 1 is stale, current is 2');
  t.is(store.index, 3, 'the rejected entry still took its log index');
  t.is(proposer.log!.length, 3);
  t.deepEqual(store.view((v) => v.services.get('s1'))!.spec?.annotations?.labels, { by: 'fast' });
  t.is(store.view((v) => v.tasks.get('t-slow')), undefined);
});

test('unique names are checked against the transaction\'s own writes too', async (t) => {
  const store = newStore();
  const err = await t.throwsAsync(
    store.update((tx) => {
      tx.services.create(service('a', 'same'));
      tx.services.create(service('b', 'Same'));
    }),
    { instanceOf: ShoalError },
  );
  t.is(err!.code, 'AlreadyExists');
  await store.update((tx) => {
    tx.services.create(service('a', 'same'));
    tx.services.delete('a');
    tx.services.create(service('b', 'same'));
  });
  t.deepEqual(store.view((v) => v.services.all().map((s) => s.id)), ['b']);
});
