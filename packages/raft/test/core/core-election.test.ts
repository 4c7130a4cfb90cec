// Leader election (Raft §5.2, thesis §9.6 pre-vote, §6.2 check-quorum) and fast failover.
import test from 'ava';
import { MemoryStorage } from '../../src/core/memory-storage.js';
import { RawNode } from '../../src/core/rawnode.js';
import { MessageType, Role } from '../../src/core/types.js';
import { config, Net, text } from './harness.js';

test('§5.2 "A candidate wins an election if it receives votes from a majority of the servers"', (t) => {
  const net = new Net([1, 2, 3, 4, 5]);
  net.drop = (m) => m.to === 4 || m.to === 5; // two of five are unreachable: still a majority
  net.campaign(1);
  t.deepEqual(net.leaders(), [1]);
  t.is(net.node(1).rn.status().term, 1);

  const lonely = new Net([1, 2, 3]);
  lonely.drop = (m) => m.from === 1 || m.to === 1;
  lonely.campaign(1);
  t.deepEqual(lonely.leaders(), []);
});

test('§5.2 "each server will vote for at most one candidate in a given term"', (t) => {
  const net = new Net([1, 2, 3], { preVote: false, checkQuorum: false });
  net.node(1).rn.campaign(); // 1 and 2 campaign concurrently in term 1
  net.node(2).rn.campaign();
  net.settle();
  const leaders = net.leaders();
  t.true(leaders.length <= 1);
  for (const id of [1, 2, 3]) {
    const vote = net.node(id).storage.hardState.vote;
    t.true(vote === 1 || vote === 2 || vote === 0);
  }
  const grants = net.delivered.filter((m) => m.type === MessageType.VoteResp && !m.reject && m.term === 1);
  const voters = grants.map((m) => m.from);
  t.is(new Set(voters).size, voters.length, 'nobody granted two votes in term 1');
});

test('§5.2 election timeouts are randomized in [electionTicks, 2*electionTicks)', (t) => {
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const rn = new RawNode(config(1, { randInt: (n) => i % n }), new MemoryStorage({ voters: [1, 2, 3], learners: [] }));
    let ticks = 0;
    while (rn.status().role === Role.Follower && ticks < 100) {
      rn.tick();
      ticks++;
    }
    seen.add(ticks);
  }
  t.is(Math.min(...seen), 10);
  t.is(Math.max(...seen), 19);
});

test('§5.4.1 "the voter denies its vote if its own log is more up-to-date than that of the candidate"', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.drop = (m) => m.to === 3;
  net.node(1).rn.propose(text('a'));
  net.settle();
  net.heal();
  // node 3 missed the entry: it cannot win against 1 and 2
  net.isolate(1);
  net.tick(2, 20); // 2's lease must expire before it grants votes
  net.node(3).rn.campaign();
  net.settle();
  t.not(net.node(3).rn.status().role, Role.Leader);
});

test('§9.6 pre-vote: a rejoining node with a stale log does not disrupt the leader', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 100; i++) net.tickAll(); // 3 keeps pre-voting in vain; term stays put
  t.is(net.node(3).rn.status().term, 1);
  net.heal();
  net.tickAll(3);
  t.deepEqual(net.leaders(), [1]);
  t.is(net.node(1).rn.status().term, 1);
});

test('§4.2.3 a follower that heard from its leader within the election timeout ignores vote requests', (t) => {
  const net = new Net([1, 2, 3], { preVote: false });
  net.campaign(1);
  const n2 = net.node(2);
  for (const type of [MessageType.Vote, MessageType.PreVote]) {
    n2.rn.step({ ...net.delivered[0]!, type, from: 3, to: 2, term: 5, index: 10, logTerm: 5, entries: [], reject: false, transfer: false });
    net.flush();
    t.is(n2.rn.status().term, 1, 'term unchanged');
    t.is(net.queue.length, 0, 'no answer at all');
  }
  // unless the request comes from a leadership transfer
  n2.rn.step({ ...net.delivered[0]!, type: MessageType.Vote, from: 3, to: 2, term: 5, index: 10, logTerm: 5, entries: [], reject: false, transfer: true });
  net.flush();
  t.is(n2.rn.status().term, 5);
  t.true(net.queue.some((m) => m.type === MessageType.VoteResp && !m.reject));
});

test('§6.2 check-quorum: a leader that cannot reach a quorum steps down after an election timeout', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  // the last round of contact may fall in the current check window: two timeouts at most
  for (let i = 0; i < 20; i++) net.tick(1);
  net.settle();
  t.not(net.node(1).rn.status().role, Role.Leader);
  // meanwhile the majority side elects a new leader
  for (let i = 0; i < 30; i++) {
    net.tick(2);
    net.tick(3);
    net.settle();
  }
  t.true(net.leaders().some((id) => id === 2 || id === 3));
});

test('fast failover: after a broken stream to the leader the first survivor campaigns; others who saw it grant', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.isolate(1); // the leader's process died
  t.true(net.node(2).rn.peerStreamBroken(1));
  t.true(net.node(3).rn.peerStreamBroken(1));
  t.is(net.node(2).rn.failoverRank(1), 0, 'the lowest id among the survivors goes first');
  t.is(net.node(3).rn.failoverRank(1), 1);
  net.node(2).rn.campaignIfLeaderGone();
  net.settle();
  t.deepEqual(net.leaders().filter((id) => id !== 1), [2], 'a new leader without a single tick');
  // the second survivor's turn comes: it has a leader again, so it does not campaign
  net.node(3).rn.campaignIfLeaderGone();
  net.settle();
  t.deepEqual(net.leaders().filter((id) => id !== 1), [2]);
  t.is(net.node(3).rn.status().leader, 2);
});

test('fast failover: campaigning is the driver\'s call; a stale report does nothing', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  t.false(net.node(2).rn.peerStreamBroken(3), 'a broken stream to a follower is not a leader loss');
  net.node(2).rn.campaignIfLeaderGone();
  net.settle();
  t.deepEqual(net.leaders(), [1]);
  t.is(net.node(1).rn.failoverRank(1), -1, 'the dead leader itself has no turn');
});

test('fast failover: a follower that still hears the leader rejects the pre-vote', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  t.true(net.node(2).rn.peerStreamBroken(1)); // only 2 lost its stream (e.g. a local glitch)
  net.node(2).rn.campaignIfLeaderGone();
  net.settle();
  t.deepEqual(net.leaders(), [1]);
  t.is(net.node(1).rn.status().term, 1);
  // a quiet partition does not trigger it at all: peerStreamBroken for a non-leader is ignored
  t.false(net.node(3).rn.peerStreamBroken(2));
  net.node(3).rn.campaignIfLeaderGone();
  net.settle();
  t.deepEqual(net.leaders(), [1]);
});

test('fast failover: a pre-candidate whose leader died asks again every heartbeat until a voter still in lease notices too', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.isolate(1); // the leader's process died; 2 notices at once, 3 only later
  t.true(net.node(2).rn.peerStreamBroken(1));
  net.node(2).rn.campaignIfLeaderGone();
  net.settle();
  t.is(net.node(2).rn.status().role, Role.PreCandidate, "3 still honours 1's lease and ignores the pre-vote");
  net.tick(2);
  net.settle();
  t.is(net.node(2).rn.status().role, Role.PreCandidate);
  t.true(net.node(3).rn.peerStreamBroken(1)); // 3 notices; its own turn (rank 1) has not come yet
  net.tick(2); // one heartbeat later 2 asks again, well before its election timeout of 10+ ticks
  net.settle();
  t.deepEqual(net.leaders().filter((id) => id !== 1), [2]);
});

test('fast failover: survivors that campaign at the same moment do not split the vote (the best log, then the lowest id, wins the pre-vote)', (t) => {
  for (const order of [
    [2, 3],
    [3, 2],
  ]) {
    const net = new Net([1, 2, 3]);
    net.campaign(1);
    net.isolate(1);
    for (const id of [2, 3]) t.true(net.node(id).rn.peerStreamBroken(1));
    // both campaign before either hears from the other (load skewed the one-tick stagger)
    for (const id of order) net.node(id).rn.campaignIfLeaderGone();
    net.settle();
    t.deepEqual(net.leaders().filter((id) => id !== 1), [2], `order ${order.join(',')}: 2 leads`);
    t.is(net.node(2).rn.status().term, 2, 'in the first term tried: no split vote');
  }
  // a survivor with a longer log is preferred over a lower id
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  net.drop = (m) => m.to === 2; // 2 misses the next entry
  net.node(1).rn.propose(text('only-3-has-it'));
  net.settle();
  net.isolate(1);
  for (const id of [2, 3]) t.true(net.node(id).rn.peerStreamBroken(1));
  for (const id of [2, 3]) net.node(id).rn.campaignIfLeaderGone();
  net.settle();
  t.deepEqual(net.leaders().filter((id) => id !== 1), [3]);
});
