// Log replication (Raft §5.3), the commit rule (§5.4.2, Figure 8), durability before commit,
// batching and pipelining (thesis §10.2.1), and follower forwarding.
import test from 'ava';
import { MemoryStorage } from '../../src/core/memory-storage.js';
import { RawNode } from '../../src/core/rawnode.js';
import { EntryType, MessageType, RaftError, Role, type Entry } from '../../src/core/types.js';
import { config, Net, str, text } from './harness.js';

function ent(index: number, term: number, data = `${index}/${term}`): Entry {
  return { index, term, type: EntryType.Normal, data: text(data) };
}

function storageWith(voters: number[], ents: Entry[], term: number, vote = 0, commit = 0): MemoryStorage {
  const s = new MemoryStorage({ voters, learners: [] });
  s.append(ents);
  s.setHardState({ term, vote, commit });
  return s;
}

test('§5.3 "the leader forces the followers\' logs to duplicate its own" (Figure 7 divergent followers)', (t) => {
  const ids = [1, 2, 3, 4, 5, 6, 7];
  // leader's log: terms 1 1 1 4 4 5 5 6 6 6 (Figure 7, top)
  const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<number, number[]> = {
    2: [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing one
    3: [1, 1, 1, 4], // (b) missing many
    4: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) an extra entry
    5: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of a later term
    6: [1, 1, 1, 4, 4, 4, 4], // (e) divergent term 4 suffix
    7: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) divergent terms 2 and 3
  };
  const net = new Net([], { maxSizePerMsg: 1 << 20 });
  const mk = (terms: number[], tag: string): Entry[] => terms.map((tm, i) => ent(i + 1, tm, i < 3 ? `${i + 1}/${tm}` : `${tag}${i + 1}/${tm}`));
  net.add(1, storageWith(ids, mk(leaderTerms, 'L'), 7));
  for (const [id, terms] of Object.entries(followers)) {
    const shared = terms.map((tm, i) => (leaderTerms[i] === tm && terms.slice(0, i + 1).every((x, j) => x === leaderTerms[j]) ? 'L' : `f${id}`));
    net.add(Number(id), storageWith(ids, terms.map((tm, i) => ent(i + 1, tm, i < 3 ? `${i + 1}/${tm}` : `${shared[i]}${i + 1}/${tm}`)), 7));
  }
  // node 1 wins term 8 with the votes of the nodes whose logs are not more up to date (a, b, c, e, f)
  net.drop = (m) => m.from === 5 || m.to === 5;
  net.campaign(1);
  t.is(net.node(1).rn.status().role, Role.Leader);
  net.heal();
  net.node(1).rn.propose(text('new'));
  net.settle();
  net.tickAll(3);
  const expected = [...leaderTerms, 8, 8];
  for (const id of ids) {
    const s = net.node(id).storage;
    const terms = [];
    for (let i = 1; i <= s.lastIndex(); i++) terms.push(s.term(i));
    t.deepEqual(terms, expected, `node ${id}`);
    t.is(str(s.entries(4, 5, 1e9)[0]!.data), 'L4/4', `node ${id} index 4 comes from the leader`);
  }
  // fast backtracking: far fewer rejections than the entries it had to walk back over
  const rejections = net.delivered.filter((m) => m.type === MessageType.AppendResp && m.reject).length;
  t.true(rejections <= 12, `${rejections} rejections`);
});

test('§5.4.2 Figure 8: a leader never commits an entry of an earlier term by counting replicas', (t) => {
  const run = (unsafe: boolean) => {
    const ids = [1, 2, 3, 4, 5];
    const net = new Net([]);
    const knobs = unsafe ? { unsafeCommitOldTerm: true } : {};
    // the paper's basic algorithm: no pre-vote, no leases; one entry per Append
    const cfg = { maxSizePerMsg: 1, checkQuorum: false, preVote: false };
    // state at Figure 8 (c): S1 and S2 hold (2,term 2); S5 holds a different (2,term 3); all in term 3
    net.add(1, storageWith(ids, [ent(1, 1), ent(2, 2, 'a')], 3, 0, 1), cfg, knobs);
    net.add(2, storageWith(ids, [ent(1, 1), ent(2, 2, 'a')], 3, 0, 1), cfg, knobs);
    net.add(3, storageWith(ids, [ent(1, 1)], 3, 0, 1), cfg, knobs);
    net.add(4, storageWith(ids, [ent(1, 1)], 3, 0, 1), cfg, knobs);
    net.add(5, storageWith(ids, [ent(1, 1), ent(2, 3, 'b')], 3, 5, 1), cfg, knobs);
    // S1 becomes leader of term 4 and gets (2,2) onto S3, but its own term-4 entry reaches nobody
    net.drop = (m) => {
      if (m.type === MessageType.Append) m.entries = m.entries.filter((e) => e.term !== 4);
      return m.from === 5 || m.to === 5;
    };
    net.campaign(1);
    net.tickAll(2);
    const s1 = net.node(1).rn.status();
    t.is(s1.role, Role.Leader);
    t.is(s1.term, 4);
    t.is(net.node(3).storage.lastIndex(), 2, 'index 2 is now on a majority (S1, S2, S3)');
    const committedByCounting = s1.commit;
    // (d): S1 crashes; S5 (last term 3) is elected by S2, S3, S4 and overwrites index 2
    // (with the broken rule the logs then contradict each other and replication cannot converge,
    // so S5's Appends are held back there)
    net.drop = (m) => m.from === 1 || m.to === 1 || (unsafe && m.from === 5 && m.type === MessageType.Append);
    // S5 is still in term 3: its first try (term 4) meets voters who already voted; term 5 wins
    for (let i = 0; i < 3 && net.node(5).rn.status().role !== Role.Leader; i++) net.campaign(5);
    t.is(net.node(5).rn.status().role, Role.Leader);
    if (!unsafe) net.tickAll(2);
    return {
      committedByCounting,
      s3index2: str(net.node(3).storage.entries(2, 3, 1e9)[0]!.data),
      s5index2: str(net.node(5).storage.entries(2, 3, 1e9)[0]!.data),
      s1applied: net.appliedData(1),
    };
  };
  const safe = run(false);
  t.is(safe.committedByCounting, 1, 'the term-2 entry is replicated on a majority but not committed');
  t.false(safe.s1applied.includes('a'));
  t.is(safe.s3index2, 'b', 'S5 may then legally overwrite it');
  const unsafe = run(true);
  t.is(unsafe.committedByCounting, 2, 'the broken rule commits it...');
  t.true(unsafe.s1applied.includes('a'), '...S1 applies it...');
  t.is(unsafe.s5index2, 'b', '...and S5 leads without it: Leader Completeness is broken');
});

test('the leader commits only what it has itself persisted (advance counts its own entries)', (t) => {
  const storage = new MemoryStorage({ voters: [1], learners: [] });
  const rn = new RawNode(config(1), storage);
  rn.campaign();
  let rd = rn.ready();
  t.is(rn.status().role, Role.Leader);
  t.is(rd.entries.length, 1);
  t.is(rd.committedEntries.length, 0, 'nothing is committed before the driver persisted it');
  t.is(rn.status().commit, 0);
  storage.append(rd.entries);
  rn.advance(rd);
  t.is(rn.status().commit, 1);
  rd = rn.ready();
  t.is(rd.committedEntries.length, 1);
  t.is(rd.hardState?.commit, 1);
  rn.advance(rd);
  rn.propose(text('x'));
  rd = rn.ready();
  t.deepEqual(rd.committedEntries, []);
  storage.append(rd.entries);
  rn.advance(rd);
  rd = rn.ready();
  t.deepEqual(rd.committedEntries.map((e) => str(e.data)), ['x']);
});

test('§10.2.1 batching and pipelining: many entries per Append, several Appends in flight', (t) => {
  const net = new Net([1, 2, 3], { maxSizePerMsg: 100, maxInflightMsgs: 3 });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 30; i++) net.node(1).rn.propose(text(`entry-${i}`)); // 7-8 bytes + 16 overhead each
  net.settle();
  t.is(net.appliedData(2).length, 30);
  // node 3 comes back, but its answers to Appends are held: the leader still streams 3 batches
  // rejections and the first success (to the probe) get through and puts node 3 in replicate state
  let answers = 0;
  net.drop = (m) => m.from === 3 && m.type === MessageType.AppendResp && !m.reject && ++answers > 1;
  const before = net.delivered.length;
  net.tickAll(1);
  const appends = net.delivered.slice(before).filter((m) => m.type === MessageType.Append && m.to === 3 && m.entries.length > 0);
  t.is(appends.length, 1 + 1 + 3, 'a rejected probe, a probe, then three Appends in flight without acknowledgement');
  for (const m of appends.slice(2)) {
    const bytes = m.entries.reduce((n, e) => n + e.data.byteLength + 16, 0);
    t.true(m.entries.length >= 3 && bytes <= 100, `batch of ${m.entries.length} entries, ${bytes} bytes`);
  }
  net.heal();
  net.tickAll(5);
  t.is(net.appliedData(3).length, 30);
});

test('a follower forwards proposals to the leader, or rejects them naming no leader', (t) => {
  const net = new Net([1, 2, 3]);
  const none = net.node(2);
  const err = t.throws(() => none.rn.propose(text('early')), { instanceOf: RaftError });
  t.is(err?.code, 'NotLeader');
  net.campaign(1);
  net.node(3).rn.propose(text('via follower'));
  net.settle();
  t.true(net.delivered.some((m) => m.type === MessageType.Propose && m.from === 3 && m.to === 1));
  for (const id of [1, 2, 3]) t.deepEqual(net.appliedData(id), ['via follower']);
  t.is(none.rn.status().leader, 1);
});
