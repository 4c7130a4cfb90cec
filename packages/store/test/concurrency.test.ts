import test from 'ava';
import { ShoalError, TaskState } from '@shoal/api';
import { SharedLog, bytesEqual, service, task } from './_helpers.js';

test('two managers update the same object from the same version: the later entry is rejected everywhere', async (t) => {
  const log = new SharedLog();
  const a = log.store();
  const b = log.store();
  const seed = a.update((tx) => {
    tx.services.create(service('s1', 'web'));
    tx.tasks.create(task('t1', 's1', 1));
  });
  log.commit();
  await seed;
  t.is(b.view((v) => v.services.get('s1'))?.meta?.version, 1);

  // both read version 1 and propose; neither sees the other before commit
  const pa = a.update((tx) => {
    const s = tx.services.get('s1')!;
    tx.services.update({ ...s, spec: { ...s.spec!, annotations: { name: 'web', labels: { by: 'a' } } } });
    tx.tasks.create(task('ta', 's1', 2));
  });
  const pb = b.update((tx) => {
    const s = tx.services.get('s1')!;
    tx.services.update({ ...s, spec: { ...s.spec!, annotations: { name: 'web', labels: { by: 'b' } } } });
    tx.tasks.create(task('tb', 's1', 3));
    const t1 = tx.tasks.get('t1')!;
    tx.tasks.update({ ...t1, desiredState: TaskState.SHUTDOWN });
  });
  t.is(log.queued, 2);
  log.commit();
  const [ra, rb] = await Promise.allSettled([pa, pb]);
  t.is(ra.status, 'fulfilled');
  t.is(rb.status, 'rejected');
  const err = (rb as PromiseRejectedResult).reason as ShoalError;
  t.true(err instanceof ShoalError);
  t.is(err.code, 'Conflict');
  t.is(err.message, 'service s1: version 1 is stale, current is 2');
  t.true(err.retryable);

  for (const s of [a, b]) {
    const v = s.snapshotView();
    t.is(v.index, 3);
    t.deepEqual(v.services.get('s1')?.spec?.annotations?.labels, { by: 'a' });
    t.truthy(v.tasks.get('ta'));
    t.is(v.tasks.get('tb'), undefined, 'nothing of the losing transaction is applied');
    t.is(v.tasks.get('t1')?.desiredState, TaskState.RUNNING);
    t.is(v.tasks.get('t1')?.meta?.version, 1);
  }
  t.true(bytesEqual(a.snapshot(), b.snapshot()));
});

test('a transaction that becomes invalid at apply time fails as a whole (name taken, deleted object)', async (t) => {
  const log = new SharedLog();
  const a = log.store();
  const b = log.store();
  const p1 = a.update((tx) => tx.services.create(service('s1', 'web')));
  const p2 = b.update((tx) => {
    tx.tasks.create(task('x', 's2', 1));
    tx.services.create(service('s2', 'WEB'));
  });
  log.commit();
  await p1;
  const e2 = await t.throwsAsync(p2, { instanceOf: ShoalError });
  t.is(e2!.code, 'AlreadyExists');
  t.is(b.view((v) => v.tasks.get('x')), undefined);

  const p3 = a.update((tx) => tx.services.delete(tx.services.get('s1')!));
  const p4 = b.update((tx) => {
    const s = tx.services.get('s1')!;
    tx.services.update({ ...s });
  });
  log.commit();
  await p3;
  const e4 = await t.throwsAsync(p4, { instanceOf: ShoalError });
  t.is(e4!.code, 'NotFound');
  t.is(a.index, 4);
  t.is(b.index, 4);
  t.true(bytesEqual(a.snapshot(), b.snapshot()));
});

test('apply skips entries at or below the applied index and rejects malformed entries deterministically', (t) => {
  const log = new SharedLog();
  const a = log.store();
  const r = a.apply(new Uint8Array([1, 2, 3]), 1);
  t.is(r.error?.code, 'InvalidArgument');
  t.is(a.index, 1);
  t.false(a.apply(new Uint8Array([1, 2, 3]), 1).applied);
  t.is(a.apply(new Uint8Array(0), 2).changes, 0, 'empty entries (raft no-ops) just advance the index');
  t.is(a.index, 2);
});
