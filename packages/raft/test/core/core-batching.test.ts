// Batching at the driver boundary (thesis §10.2.1): proposals and commit advances handled between
// two Readys go out as one append per follower, and a follower that took several appends in one
// go answers once.
import test from 'ava';
import { coalesceAppendResps } from '../../src/core/rawnode.js';
import { newMessage } from '../../src/core/message.js';
import { MessageType, Role } from '../../src/core/types.js';
import { Net, text } from './harness.js';

test('proposals made between two Readys go to each follower in one append', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  const leader = net.node(1).rn;
  for (let i = 0; i < 50; i++) leader.propose(text(`v${i}`));
  t.is(leader.raft.msgs.length, 0, 'nothing is sent per proposal');
  t.true(leader.hasReady());
  const rd = leader.ready();
  const appends = rd.messages.filter((m) => m.type === MessageType.Append);
  t.deepEqual(appends.map((m) => m.to).sort(), [2, 3], 'one append per follower');
  for (const m of appends) t.is(m.entries.length, 50);
  net.queue.push(...rd.messages);
  net.node(1).storage.append(rd.entries);
  leader.advance(rd);
  net.settle();
  for (const id of [1, 2, 3]) t.is(net.appliedData(id).length, 50, `node ${id} applied all 50`);
});

test('flushAppends hands pending appends to a driver that sends before its Ready', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  const leader = net.node(1).rn;
  leader.propose(text('a'));
  leader.propose(text('b'));
  leader.flushAppends();
  const appends = leader.raft.msgs.filter((m) => m.type === MessageType.Append);
  t.is(appends.length, 2);
  t.deepEqual(appends.map((m) => m.entries.length), [2, 2]);
  leader.flushAppends();
  t.is(leader.raft.msgs.length, 2, 'a second flush with nothing new sends nothing');
});

test('a commit advance is announced once per Ready, not once per acknowledgement', (t) => {
  const net = new Net([1, 2, 3, 4, 5]);
  net.campaign(1);
  const leader = net.node(1).rn;
  leader.propose(text('x'));
  net.settle();
  t.deepEqual(net.appliedData(3), ['x']);
  // the acknowledgements of four followers arrive together: the commit goes out in one round
  const before = net.delivered.filter((m) => m.from === 1 && m.type === MessageType.Append).length;
  leader.propose(text('y'));
  net.flush();
  const out = net.queue;
  net.queue = [];
  for (const m of out) net.node(m.to).rn.step(m);
  net.flush();
  const acks = net.queue;
  net.queue = [];
  t.is(acks.filter((m) => m.type === MessageType.AppendResp).length, 4);
  for (const m of acks) leader.step(m);
  const rd = leader.ready();
  t.is(rd.messages.filter((m) => m.type === MessageType.Append).length, 4, 'one commit append per follower');
  t.true(rd.committedEntries.some((e) => new TextDecoder().decode(e.data) === 'y'));
  net.queue.push(...rd.messages);
  leader.advance(rd);
  net.settle();
  t.true(net.delivered.filter((m) => m.from === 1 && m.type === MessageType.Append).length - before <= 8 + 4);
  t.deepEqual(net.appliedData(5), ['x', 'y']);
  t.is(leader.status().role, Role.Leader);
});

test('coalesceAppendResps drops a successful answer a later one covers, and keeps every rejection', (t) => {
  const ok = (to: number, term: number, index: number) => newMessage({ type: MessageType.AppendResp, from: 2, to, term, index });
  const rej = newMessage({ type: MessageType.AppendResp, from: 2, to: 1, term: 3, index: 4, reject: true, rejectHint: 2 });
  const hb = newMessage({ type: MessageType.HeartbeatResp, from: 2, to: 1, term: 3 });
  const msgs = [ok(1, 3, 5), hb, ok(1, 3, 7), rej, ok(1, 3, 6), ok(1, 4, 2)];
  const out = coalesceAppendResps(msgs);
  t.deepEqual(
    out.map((m) => `${MessageType[m.type]}:${m.term}:${m.index}${m.reject ? 'r' : ''}`),
    // 3:5 is covered by the later 3:7; 3:6 comes after 3:7 and is kept (the leader ignores it)
    ['HeartbeatResp:3:0', 'AppendResp:3:7', 'AppendResp:3:4r', 'AppendResp:3:6', 'AppendResp:4:2'],
  );
  const single = [ok(1, 3, 5), hb];
  t.is(coalesceAppendResps(single), single, 'nothing to drop: the same list');
});

test('lazyCommit: a commit advance alone waits for flushCommit, and an append takes it along instead', (t) => {
  const net = new Net([1, 2, 3], { lazyCommit: true });
  net.campaign(1);
  const leader = net.node(1).rn;
  leader.propose(text('x'));
  net.settle();
  // the leader committed and applied x; the followers have it but were not told it is committed
  t.deepEqual(net.appliedData(1), ['x']);
  t.deepEqual(net.appliedData(2), []);
  t.true(leader.hasUnsentCommit());
  t.false(leader.hasReady(), 'an unsent commit alone is no work for the Ready loop');
  // the next proposal's append carries the commit index: nothing left to flush
  leader.propose(text('y'));
  net.flush();
  const appends = net.queue.filter((m) => m.type === MessageType.Append);
  t.deepEqual(appends.map((m) => m.to).sort(), [2, 3]);
  for (const m of appends) t.is(m.commit, leader.status().commit, 'the append carries the commit index');
  t.false(leader.hasUnsentCommit());
  net.settle();
  t.deepEqual(net.appliedData(2), ['x'], 'a follower applies x once an append told it; y waits');
  // flushCommit sends one empty append per follower that was not told, and they apply
  t.true(leader.hasUnsentCommit());
  leader.flushCommit();
  net.flush();
  t.is(net.queue.filter((m) => m.type === MessageType.Append && m.entries.length === 0).length, 2);
  net.settle();
  for (const id of [2, 3]) t.deepEqual(net.appliedData(id), ['x', 'y']);
  t.false(leader.hasUnsentCommit());
  leader.flushCommit();
  t.is(leader.raft.msgs.length, 0, 'nothing to flush: every follower was told');
});

test('lazyCommit: a heartbeat also tells the followers the commit index', (t) => {
  const net = new Net([1, 2, 3], { lazyCommit: true });
  net.campaign(1);
  net.node(1).rn.propose(text('x'));
  net.settle();
  t.deepEqual(net.appliedData(3), []);
  net.tick(1, net.node(1).rn.raft.cfg.heartbeatTicks);
  net.settle();
  for (const id of [2, 3]) t.deepEqual(net.appliedData(id), ['x']);
});
