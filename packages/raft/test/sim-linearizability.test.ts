// Client histories of the simulated KV store (writes through propose, reads through ReadIndex,
// under faults) must be linearizable; and the checker itself must tell good from bad histories.
import test from 'ava';
import { runSeed, type HistoryOp } from './sim/cluster.js';
import { checkHistory, checkKey } from './sim/linearizability.js';

let nextId = 1;
function op(kind: HistoryOp['kind'], invoke: number, ret: number | undefined, p: Partial<HistoryOp> = {}): HistoryOp {
  return { id: nextId++, key: 'k', kind, value: null, expect: null, output: undefined, invoke, ret, ...p };
}

test('checker accepts a linearizable history with overlapping operations', (t) => {
  // put(1) overlaps a read that sees 1 and a read that still sees null
  const h = [
    op('put', 1, 4, { value: '1' }),
    op('get', 2, 3, { output: null }),
    op('get', 3.5, 6, { output: '1' }),
    op('cas', 5, 7, { expect: '1', value: '2', output: true }),
    op('get', 8, 9, { output: '2' }),
  ];
  t.true(checkKey(h));
});

test('checker rejects a stale read after a completed write', (t) => {
  const h = [op('put', 1, 2, { value: '1' }), op('get', 3, 4, { output: null })];
  t.false(checkKey(h));
});

test('checker rejects a read that goes back in time', (t) => {
  // two sequential reads observe 2 then 1, but 1 was overwritten by 2 before either started
  const h = [
    op('put', 1, 2, { value: '1' }),
    op('put', 3, 4, { value: '2' }),
    op('get', 5, 6, { output: '2' }),
    op('get', 7, 8, { output: '1' }),
  ];
  t.false(checkKey(h));
});

test('checker rejects two successful cas from the same value', (t) => {
  const h = [
    op('put', 1, 2, { value: 'a' }),
    op('cas', 3, 6, { expect: 'a', value: 'b', output: true }),
    op('cas', 4, 5, { expect: 'a', value: 'c', output: true }),
  ];
  t.false(checkKey(h));
});

test('checker lets an operation with unknown outcome take effect or not', (t) => {
  const open = op('put', 1, undefined, { value: '1' });
  t.true(checkKey([open, op('get', 2, 3, { output: '1' }), op('get', 4, 5, { output: '1' })]));
  t.true(checkKey([open, op('get', 2, 3, { output: null })]));
  // but once seen it cannot be unseen
  t.false(checkKey([open, op('get', 2, 3, { output: '1' }), op('get', 4, 5, { output: null })]));
});

test('checker partitions by key', (t) => {
  const h = [
    op('put', 1, 2, { key: 'a', value: '1' }),
    op('get', 3, 4, { key: 'b', output: null }),
    op('get', 3, 4, { key: 'a', output: '1' }),
  ];
  t.deepEqual(checkHistory(h), { ok: true });
  h.push(op('get', 5, 6, { key: 'a', output: null }));
  t.deepEqual(checkHistory(h), { ok: false, key: 'a' });
});

test('simulated KV histories under faults are linearizable (200 seeds)', (t) => {
  const failures: string[] = [];
  let ops = 0;
  for (let seed = 10001; seed <= 10200; seed++) {
    const res = runSeed({ seed });
    ops += res.history.length;
    if (!res.ok) failures.push(`raft sim: seed ${seed} failed: ${res.reason}`);
    else {
      const lin = checkHistory(res.history);
      if (!lin.ok) failures.push(`raft sim: seed ${seed} failed: history not linearizable on key ${lin.key}`);
    }
  }
  t.log(`${ops} operations checked`);
  t.deepEqual(failures, [], failures.join('\n'));
});
