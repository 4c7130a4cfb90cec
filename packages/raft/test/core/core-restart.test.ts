// MemoryStorage semantics and restarting a RawNode from durable state.
import test from 'ava';
import { MemoryStorage } from '../../src/core/memory-storage.js';
import { RawNode } from '../../src/core/rawnode.js';
import { EntryType, RaftError, Role, type Entry } from '../../src/core/types.js';
import { config, str, text } from './harness.js';

const ent = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: text(`e${index}`) });

test('MemoryStorage: append overwrites a conflicting suffix; compaction keeps the term of the boundary', (t) => {
  const s = new MemoryStorage({ voters: [1], learners: [] });
  s.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
  s.append([ent(2, 2)]);
  t.is(s.lastIndex(), 2);
  t.is(s.term(2), 2);
  s.append([ent(3, 2), ent(4, 2), ent(5, 2)]);
  s.createSnapshot(4, { voters: [1], learners: [] }, text('sm@4'));
  s.compact(3);
  t.is(s.firstIndex(), 4);
  t.is(s.term(3), 2, 'the term of the last compacted entry is still known');
  t.throws(() => s.term(2), { instanceOf: RaftError });
  t.throws(() => s.entries(3, 5, 1e9), { instanceOf: RaftError });
  t.deepEqual(s.entries(4, 6, 1e9).map((e) => e.index), [4, 5]);
  t.deepEqual(s.entries(4, 6, 1).map((e) => e.index), [4], 'at least one entry even over the size limit');
  t.is(s.snapshot().metadata.index, 4);
  s.applySnapshot({ metadata: { index: 10, term: 3, confState: { voters: [1, 2], learners: [] } }, data: text('sm@10') });
  t.is(s.firstIndex(), 11);
  t.is(s.lastIndex(), 10);
  t.deepEqual(s.initialState().confState.voters, [1, 2]);
});

test('a restarted node resumes from its snapshot and hands out the committed entries after it again', (t) => {
  const s = new MemoryStorage({ voters: [1], learners: [] });
  let rn = new RawNode(config(1), s);
  rn.campaign();
  for (let i = 0; i < 6; i++) {
    if (i > 0) rn.propose(text(`p${i}`));
    while (rn.hasReady()) {
      const rd = rn.ready();
      s.append(rd.entries);
      if (rd.hardState) s.setHardState(rd.hardState);
      rn.advance(rd);
    }
  }
  t.is(rn.status().commit, 6);
  s.createSnapshot(3, rn.status().confState, text('sm@3'));
  s.compact(2); // the snapshot is ahead of the compaction point
  rn = new RawNode(config(1), s);
  t.is(rn.status().role, Role.Follower);
  t.is(rn.status().applied, 3);
  const rd = rn.ready();
  t.deepEqual(rd.committedEntries.map((e) => str(e.data)), ['p3', 'p4', 'p5']);
  t.deepEqual(rd.entries, []);
  rn.advance(rd);
  t.false(rn.hasReady());
  t.is(rn.status().term, 1);
});
