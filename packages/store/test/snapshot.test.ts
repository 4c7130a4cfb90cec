import test from 'ava';
import fc from 'fast-check';
import { NodeRole, ShoalError, TaskState } from '@shoal/api';
import { LocalProposer, Store, type Tx } from '../src/index.js';
import { SharedLog, bytesEqual, network, node, service, task, testClock } from './_helpers.js';

async function populated(): Promise<Store> {
  const store = new Store({ clock: testClock() });
  await store.update((tx) => {
    tx.nodes.create(node('n1', 'alpha', NodeRole.MANAGER));
    tx.networks.create(network('net1', 'front'));
    tx.services.create(service('s1', 'web', 3));
    for (let i = 1; i <= 3; i++) tx.tasks.create(task(`t${i}`, 's1', i, 'n1'));
  });
  await store.update((tx) => {
    const x = tx.tasks.get('t2')!;
    tx.tasks.update({ ...x, desiredState: TaskState.SHUTDOWN });
  });
  return store;
}

test('snapshot -> restore -> snapshot is byte-identical and object-equal, indexes included', async (t) => {
  const store = await populated();
  const bytes = store.snapshot();
  const copy = Store.restore(bytes, { clock: testClock() });
  t.true(bytesEqual(copy.snapshot(), bytes));
  t.is(copy.index, 2);
  const a = store.snapshotView();
  const b = copy.snapshotView();
  for (const name of ['clusters', 'nodes', 'services', 'tasks', 'networks', 'secrets', 'configs'] as const) {
    t.deepEqual(b[name].all(), a[name].all(), name);
  }
  t.deepEqual(b.tasks.byDesiredState(TaskState.SHUTDOWN).map((x) => x.id), ['t2']);
  t.deepEqual(b.tasks.byNode('n1').length, 3);
  t.is(b.services.getByName('web')?.id, 's1');
  // the restored store carries on at the next index
  const r = await copy.update((tx) => tx.services.create(service('s2', 'api')));
  t.is(r.index, 3);
  // restoring in place
  store.restore(copy.snapshot());
  t.is(store.index, 3);
  t.is(store.view((v) => v.services.getByName('API'))?.id, 's2');
  t.throws(() => Store.restore(new Uint8Array([9, 9])), { instanceOf: ShoalError, message: /malformed store snapshot/ });
});

// ---------------------------------------------------------------- property: replicas agree

type Op =
  | { t: 'createTask'; svc: number; slot: number }
  | { t: 'updateTask'; pick: number; stale: boolean; state: number }
  | { t: 'deleteTask'; pick: number }
  | { t: 'createService'; name: number }
  | { t: 'renameService'; pick: number; name: number }
  | { t: 'deleteService'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('createTask' as const), svc: fc.nat(4), slot: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ t: fc.constant('updateTask' as const), pick: fc.nat(), stale: fc.boolean(), state: fc.constantFrom(TaskState.RUNNING, TaskState.SHUTDOWN, TaskState.FAILED) }),
  fc.record({ t: fc.constant('deleteTask' as const), pick: fc.nat() }),
  fc.record({ t: fc.constant('createService' as const), name: fc.nat(6) }),
  fc.record({ t: fc.constant('renameService' as const), pick: fc.nat(), name: fc.nat(6) }),
  fc.record({ t: fc.constant('deleteService' as const), pick: fc.nat() }),
);

// a transaction: which manager runs it, and its ops
const txArb = fc.record({ by: fc.nat(1), ops: fc.array(opArb, { minLength: 1, maxLength: 6 }), commitAfter: fc.boolean() });

function runOps(tx: Tx, ops: Op[], ids: () => string): void {
  for (const op of ops) {
    const tasks = tx.tasks.all();
    const svcs = tx.services.all();
    try {
      switch (op.t) {
        case 'createTask':
          tx.tasks.create(task(ids(), `svc${op.svc}`, op.slot));
          break;
        case 'updateTask': {
          const x = tasks[op.pick % Math.max(1, tasks.length)];
          if (x) tx.tasks.update({ ...x, desiredState: op.state, meta: { ...x.meta!, version: x.meta!.version - (op.stale ? 1 : 0) } });
          break;
        }
        case 'deleteTask': {
          const x = tasks[op.pick % Math.max(1, tasks.length)];
          if (x) tx.tasks.delete(x);
          break;
        }
        case 'createService':
          tx.services.create(service(ids(), `name${op.name}`));
          break;
        case 'renameService': {
          const s = svcs[op.pick % Math.max(1, svcs.length)];
          if (s) tx.services.update({ ...s, spec: { ...s.spec!, annotations: { name: `name${op.name}`, labels: {} } } });
          break;
        }
        case 'deleteService': {
          const s = svcs[op.pick % Math.max(1, svcs.length)];
          if (s) tx.services.delete(s.id);
          break;
        }
      }
    } catch (err) {
      if (!(err instanceof ShoalError)) throw err; // early checks refuse some ops; the rest go on
    }
  }
}

let applyRejections = 0;

test('property: stores applying the same log agree byte for byte, also when replaying onto a restored snapshot', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(txArb, { minLength: 1, maxLength: 40 }), fc.nat(), async (txs, cut) => {
      const log = new SharedLog();
      const managers = [log.store(), log.store()];
      let n = 0;
      const ids = () => `o${String(++n).padStart(5, '0')}`;
      const pending: Promise<unknown>[] = [];
      const outcomes = { ok: 0, rejected: 0 };
      for (const x of txs) {
        pending.push(
          managers[x.by]!.update((tx) => runOps(tx, x.ops, ids)).then(
            () => outcomes.ok++,
            (e: ShoalError) => {
              if (!(e instanceof ShoalError)) throw e;
              outcomes.rejected++;
            },
          ),
        );
        await Promise.resolve();
        if (x.commitAfter) log.commit();
      }
      log.commit();
      await Promise.all(pending);
      applyRejections += log.rejected;
      const [a, b] = managers as [Store, Store];
      const snap = a.snapshot();
      if (!bytesEqual(snap, b.snapshot())) return false;

      // a fresh store fed the whole log
      const fresh = new Store({ proposer: new LocalProposer() });
      log.entries.forEach((e, i) => fresh.apply(e, i + 1));
      if (!bytesEqual(snap, fresh.snapshot())) return false;

      // a store restored from a snapshot taken at `cut`, replaying the whole log (the prefix is skipped)
      const k = cut % (log.entries.length + 1);
      const prefix = new Store();
      log.entries.slice(0, k).forEach((e, i) => prefix.apply(e, i + 1));
      const restored = Store.restore(prefix.snapshot());
      log.entries.forEach((e, i) => restored.apply(e, i + 1));
      if (!bytesEqual(snap, restored.snapshot())) return false;
      t.deepEqual(restored.snapshotView().tasks.all(), a.snapshotView().tasks.all());
      t.deepEqual(restored.snapshotView().services.byNamePrefix('name'), a.snapshotView().services.byNamePrefix('name'));
      // names stay unique
      const names = a.snapshotView().services.all().map((s) => s.spec!.annotations!.name);
      return new Set(names).size === names.length;
    }),
    { numRuns: 100 },
  );
  t.true(applyRejections > 0, 'the runs included transactions rejected at apply time');
});

test('a snapshot encoded in slices is the state at the call, byte for byte, while commits go on between slices', async (t) => {
  const store = await populated();
  await store.update((tx) => {
    for (let i = 10; i < 60; i++) tx.tasks.create(task(`t${i}`, 's1', i, 'n1'));
  });
  const expected = store.snapshot();
  let pauses = 0;
  const bytes = await store.snapshotInSlices(async () => {
    pauses++;
    // a commit between two slices must not leak into the snapshot being encoded
    await store.update((tx) => tx.tasks.create(task(`late${pauses}`, 's1', 100 + pauses, 'n1')));
  }, 7);
  t.true(pauses >= 7, `paused ${pauses} times`);
  t.true(bytesEqual(bytes, expected));
  t.false(bytesEqual(store.snapshot(), expected), 'the store itself moved on');
  t.is(Store.restore(bytes).view((v) => v.tasks.get('late1')), undefined);
});
