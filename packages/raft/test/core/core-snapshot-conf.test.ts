// Snapshots sent in chunks (Raft §7, thesis §5.3), membership changes one server at a time
// (thesis §4.1–4.2), leadership transfer (thesis §3.10) and ReadIndex (thesis §6.4).
import test from 'ava';
import { decodeConfChange, encodeConfChange } from '../../src/core/confchange.js';
import { MemoryStorage } from '../../src/core/memory-storage.js';
import { ConfChangeType, MessageType, RaftError, Role, type ConfChange } from '../../src/core/types.js';
import { Net, text } from './harness.js';

const cc = (type: ConfChangeType, nodeId: number): ConfChange => ({ type, nodeId, context: text(`addr-${nodeId}`) });

/** compacts a node's storage at its applied index, with `data` as the state machine snapshot */
function compact(net: Net, id: number, data: Uint8Array): void {
  const n = net.node(id);
  const st = n.rn.status();
  n.storage.createSnapshot(st.applied, st.confState, data);
  n.storage.compact(st.applied);
}

test('§7 a follower behind the compacted log receives the snapshot in chunks and reassembles it', (t) => {
  const net = new Net([1, 2, 3], { maxSnapshotChunk: 100 });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 20; i++) net.node(1).rn.propose(text(`e${i}`));
  net.settle();
  const data = new Uint8Array(1050).map((_, i) => i % 251);
  compact(net, 1, data);
  net.heal();
  net.tickAll(5);
  const chunks = net.delivered.filter((m) => m.type === MessageType.Snapshot && m.to === 3);
  t.is(chunks.length, 11, '1050 bytes in chunks of 100');
  t.deepEqual(chunks.map((m) => m.snapshotOffset), [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  t.true(chunks.at(-1)!.snapshotDone);
  const n3 = net.node(3);
  t.is(n3.snapshots.length, 1);
  t.deepEqual(n3.snapshots[0]!.data, data);
  t.is(n3.storage.snapshot().metadata.index, net.node(1).storage.snapshot().metadata.index);
  // and it continues with ordinary replication afterwards
  net.node(1).rn.propose(text('after'));
  net.settle();
  t.deepEqual(net.appliedData(3), ['after']);
  t.is(n3.rn.status().commit, net.node(1).rn.status().commit);
});

test('§7 lost or reordered chunks are asked for again from the follower\'s offset', (t) => {
  const net = new Net([1, 2, 3], { maxSnapshotChunk: 10 });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.node(1).rn.propose(text(`e${i}`));
  net.settle();
  compact(net, 1, new Uint8Array(55).fill(7));
  let dropped = 0;
  net.drop = (m) => m.type === MessageType.Snapshot && m.snapshotOffset === 20 && dropped++ < 2;
  net.tickAll(20);
  t.is(dropped, 3, 'chunk 20 was lost twice, then delivered');
  t.is(net.node(3).snapshots.length, 1);
  t.deepEqual(net.node(3).snapshots[0]!.data, new Uint8Array(55).fill(7));
});

test('conf change encoding round-trips', (t) => {
  const c = cc(ConfChangeType.PromoteLearner, 42);
  t.deepEqual(decodeConfChange(encodeConfChange(c)), c);
  t.throws(() => decodeConfChange(new Uint8Array([9, 9])), { instanceOf: RaftError });
});

test('§4.2.1 a learner receives the log but neither votes nor counts for commitment; then it is promoted', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.add(4, new MemoryStorage({ voters: [1, 2, 3], learners: [] }));
  net.node(1).rn.proposeConfChange(cc(ConfChangeType.AddLearner, 4));
  net.settle();
  t.deepEqual(net.node(1).rn.status().confState, { voters: [1, 2, 3], learners: [4] });
  net.node(1).rn.propose(text('x'));
  net.settle();
  t.deepEqual(net.appliedData(4), ['x'], 'the learner gets the log');
  // with 2 and 3 unreachable, the learner's copy does not make a quorum
  net.drop = (m) => m.to === 2 || m.to === 3 || m.from === 2 || m.from === 3;
  const before = net.node(1).rn.status().commit;
  net.node(1).rn.propose(text('y'));
  net.settle();
  t.is(net.node(1).rn.status().commit, before);
  t.is(net.node(4).rn.status().lastIndex, before + 1);
  // the learner never campaigns
  net.tick(4, 50);
  net.settle();
  t.is(net.node(4).rn.status().role, Role.Follower);
  net.heal();
  net.tickAll(1);
  net.node(1).rn.proposeConfChange(cc(ConfChangeType.PromoteLearner, 4));
  net.settle();
  for (const id of [1, 2, 3, 4]) t.deepEqual(net.node(id).rn.status().confState, { voters: [1, 2, 3, 4], learners: [] });
});

test('§4.1 only one membership change may be pending at a time', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.drop = (m) => m.type === MessageType.Append; // nothing commits
  net.node(1).rn.proposeConfChange(cc(ConfChangeType.AddLearner, 4));
  const err = t.throws(() => net.node(1).rn.proposeConfChange(cc(ConfChangeType.AddLearner, 5)), { instanceOf: RaftError });
  t.is(err?.code, 'ProposalDropped');
  t.throws(() => net.node(1).rn.proposeConfChange(cc(ConfChangeType.PromoteLearner, 2)), { instanceOf: RaftError });
});

test('§4.2.2 a leader removed from the configuration steps down; the rest elect a new leader', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.node(1).rn.proposeConfChange(cc(ConfChangeType.RemoveNode, 1));
  net.settle();
  t.not(net.node(1).rn.status().role, Role.Leader);
  t.deepEqual(net.node(2).rn.status().confState.voters, [2, 3]);
  net.drop = (m) => m.from === 1 || m.to === 1;
  for (let i = 0; i < 30 && net.leaders().length === 0; i++) net.tickAll();
  const leaders = net.leaders();
  t.is(leaders.length, 1);
  t.not(leaders[0], 1);
  // the removed node cannot get itself elected
  net.heal();
  net.tick(1, 50);
  net.settle();
  t.not(net.node(1).rn.status().role, Role.Leader);
});

test('§3.10 leadership transfer: the leader catches the target up, then sends TimeoutNow', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  net.node(1).rn.propose(text('a'));
  net.settle();
  net.heal();
  net.drop = (m) => m.type === MessageType.Heartbeat; // 3 is caught up by the transfer itself
  net.node(1).rn.transferLeadership(3);
  const err = t.throws(() => net.node(1).rn.propose(text('during')), { instanceOf: RaftError });
  t.is(err?.code, 'ProposalDropped', 'no proposals while transferring');
  net.settle();
  t.deepEqual(net.leaders(), [3]);
  t.is(net.node(3).rn.status().term, 2);
  t.true(net.delivered.some((m) => m.type === MessageType.TimeoutNow && m.to === 3));
  t.true(net.delivered.some((m) => m.type === MessageType.Vote && m.transfer));
  net.heal();
  net.node(3).rn.propose(text('b'));
  net.settle();
  t.deepEqual(net.appliedData(1), ['a', 'b']);
});

test('§3.10 a transfer that does not finish within an election timeout is abandoned', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.drop = (m) => m.to === 3;
  net.node(1).rn.propose(text('a'));
  net.settle();
  net.node(1).rn.transferLeadership(3);
  t.throws(() => net.node(1).rn.propose(text('x')));
  net.tickAll(10);
  t.deepEqual(net.leaders(), [1]);
  t.notThrows(() => net.node(1).rn.propose(text('y')));
});

test('§6.4 ReadIndex on the leader: answered only after a heartbeat round to a quorum', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.node(1).rn.propose(text('a'));
  net.settle();
  const commit = net.node(1).rn.status().commit;
  net.drop = (m) => m.type === MessageType.HeartbeatResp;
  net.node(1).rn.readIndex(text('r1'));
  net.settle();
  t.deepEqual(net.node(1).readStates, [], 'no answer without confirmation from a quorum');
  net.heal();
  net.node(1).rn.readIndex(text('r2'));
  net.settle();
  t.deepEqual(
    net.node(1).readStates.map((r) => [new TextDecoder().decode(r.context), r.index]),
    [
      ['r1', commit],
      ['r2', commit],
    ],
  );
});

test('§6.4 ReadIndex waits until the new leader has committed an entry of its term', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.tickAll(1);
  // 1 is gone; the new leader's empty entry will be held back, so it cannot commit in its term
  net.drop = (m) => m.from === 1 || m.to === 1 || m.type === MessageType.Append;
  for (let i = 0; i < 30 && !net.leaders().some((id) => id !== 1); i++) {
    net.tick(2);
    net.tick(3);
    net.settle();
  }
  const lead = net.leaders().find((id) => id !== 1)!;
  t.truthy(lead);
  net.node(lead).rn.readIndex(text('early'));
  net.settle();
  t.deepEqual(net.node(lead).readStates, []);
  net.drop = (m) => m.from === 1 || m.to === 1;
  net.tickAll(2);
  t.is(net.node(lead).readStates.length, 1);
  t.is(net.node(lead).readStates[0]!.index, net.node(lead).rn.status().commit);
});

test('§6.4 a follower forwards ReadIndex to the leader and gets the read index back', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.node(1).rn.propose(text('a'));
  net.settle();
  net.node(2).rn.readIndex(text('f'));
  net.settle();
  t.true(net.delivered.some((m) => m.type === MessageType.ReadIndex && m.from === 2 && m.to === 1));
  t.deepEqual(net.node(2).readStates.map((r) => r.index), [net.node(1).rn.status().commit]);
  t.deepEqual(net.node(1).readStates, []);
  const lonely = new Net([1, 2, 3]);
  const err = t.throws(() => lonely.node(2).rn.readIndex(text('x')), { instanceOf: RaftError });
  t.is(err?.code, 'NotLeader');
});
