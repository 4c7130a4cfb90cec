// The leader writes its own entries in parallel with replication (Raft thesis §10.2.1):
// RawNode.splitEarly says which messages of a Ready may be sent before it is persisted, and the
// leader's own copy counts towards commitment only once advance() reports it persisted.
import test from 'ava';
import { MessageType, Role } from '../../src/core/types.js';
import { Net, text } from './harness.js';

test('a leader whose term is durable may send its appends before persisting the Ready', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  const leader = net.node(1).rn;
  t.is(leader.raft.role, Role.Leader);
  leader.propose(text('a'));
  const rd = leader.ready();
  const { allowed, early, late } = leader.splitEarly(rd);
  t.true(allowed);
  t.deepEqual(early.map((m) => [m.type, m.to]).sort(), [[MessageType.Append, 2], [MessageType.Append, 3]]);
  t.deepEqual(late, []);
  net.node(1).storage.append(rd.entries);
  leader.advance(rd);
});

test("the leader's unpersisted entry does not count: one follower's ack commits only after advance()", (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  const leader = net.node(1).rn;
  const before = leader.raft.log.committed;
  leader.propose(text('a'));
  const rd = leader.ready();
  const { early } = leader.splitEarly(rd);
  // node 2 persists and acks; node 3 hears nothing; the leader has not persisted yet
  const f = net.node(2);
  f.rn.step(early.find((m) => m.to === 2)!);
  const frd = f.rn.ready();
  f.storage.append(frd.entries);
  f.rn.advance(frd);
  const ack = frd.messages.find((m) => m.type === MessageType.AppendResp && !m.reject)!;
  t.truthy(ack);
  leader.step(ack);
  t.is(leader.raft.log.committed, before, 'the ack of one follower alone is not a quorum');
  net.node(1).storage.append(rd.entries);
  leader.advance(rd);
  t.is(leader.raft.log.committed, rd.entries[rd.entries.length - 1]!.index, 'committed once the leader persisted its copy');
});

test('a Ready that carries a new term or vote sends nothing early (a single voter becoming leader)', (t) => {
  const net = new Net([1], {}, [2]);
  const n = net.node(1).rn;
  n.campaign();
  t.is(n.raft.role, Role.Leader);
  const rd = n.ready();
  t.truthy(rd.hardState);
  const { allowed, early, late } = n.splitEarly(rd);
  t.false(allowed);
  t.deepEqual(early, []);
  t.true(late.some((m) => m.type === MessageType.Append && m.to === 2), 'the append to the learner waits for the write');
});

test("a follower's answers always wait for its write", (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  const leader = net.node(1).rn;
  leader.propose(text('a'));
  const rd = leader.ready();
  const app = rd.messages.find((m) => m.type === MessageType.Append && m.to === 2)!;
  const f = net.node(2).rn;
  f.step(app);
  const frd = f.ready();
  const { allowed, early, late } = f.splitEarly(frd);
  t.false(allowed);
  t.deepEqual(early, []);
  t.true(late.some((m) => m.type === MessageType.AppendResp && m.to === 1));
});
