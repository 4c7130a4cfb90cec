// Managers that join a running cluster (real RaftNodes on loopback gRPC, level storage in temp
// dirs): a joiner starts from the cluster's bootstrap configuration (Raft.Join answers it, or the
// peers do through Raft.Members), so that replaying the log's membership changes gives every node
// the same members. Without it, joiners believed the cluster was {2,3} once the founder stopped.
import test from 'ava';
import { RaftClient, createClient, grpc, type RaftJoinResponse } from '@shoal/api';
import type { ConfState } from '../../src/core/types.js';
import { encodePut } from '../../src/kv/index.js';
import type { RaftNode } from '../../src/driver/index.js';
import { Cluster, str, val, waitFor } from './cluster.js';

/** Raft.Join at `leaderAddr`, as shoald join does */
async function joinRpc(leaderAddr: string, addr: string): Promise<RaftJoinResponse> {
  const client = createClient(RaftClient, leaderAddr);
  try {
    return await new Promise<RaftJoinResponse>((resolve, reject) =>
      client.join({ nodeId: addr, addr }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, r) => (err ? reject(err) : resolve(r))),
    );
  } finally {
    client.close();
  }
}

function confOf(n: RaftNode): ConfState {
  return n.status().confState;
}

async function waitVoters(c: Cluster, voters: number[], timeoutMs = 20_000): Promise<void> {
  const want = JSON.stringify({ voters, learners: [] });
  await waitFor(
    `every running node to see voters ${voters.join(',')} (now ${c.running().map((n) => `${n.id}:${JSON.stringify(confOf(n))}`).join(' ')})`,
    () => c.running().every((n) => JSON.stringify(confOf(n)) === want),
    timeoutMs,
  );
}

/** a member joins through Raft.Join at the leader and starts with the configuration it answered */
async function joinViaRpc(c: Cluster, leader: RaftNode, extra = {}): Promise<RaftNode> {
  const m = await c.add();
  const res = await joinRpc(c.member(leader.id).addr, m.addr);
  if (res.raftId !== m.id) throw new Error(`Join gave raft id ${res.raftId}, expected ${m.id}`);
  if (!res.bootstrap) throw new Error('Join answered no bootstrap configuration');
  return c.start(m.id, { ...extra, joinConfState: { voters: res.bootstrap.voters.map(Number), learners: res.bootstrap.learners.map(Number) } }, true);
}

test.serial('joined managers agree on the members; the cluster survives the founder stopping and takes it back', async (t) => {
  const c = await Cluster.create(1);
  try {
    const founder = await c.waitLeader('the founder to lead');
    t.is(founder.id, 1);
    await founder.propose(encodePut('a', val('1')));
    t.deepEqual(founder.bootstrapConfState(), { voters: [1], learners: [] });

    // node 2 through Raft.Join (the answer carries the bootstrap configuration)
    const n2 = await joinViaRpc(c, founder);
    await waitVoters(c, [1, 2]);
    t.deepEqual(n2.bootstrapConfState(), { voters: [1], learners: [] }, 'the joiner keeps the bootstrap configuration');

    // node 3 is added by the leader and asks its peers (Raft.Members) for the configuration
    const m3 = await c.add();
    await founder.addMember(m3.id, m3.addr);
    const n3 = await c.start(m3.id, {}, true);
    await waitVoters(c, [1, 2, 3]);
    for (const n of c.running()) t.deepEqual(confOf(n), { voters: [1, 2, 3], learners: [] }, `node ${n.id}'s configuration`);
    await waitFor('every node applying a=1', () => c.members.every((m) => str(m.kv?.get('a')) === '1'));
    t.deepEqual(n3.bootstrapConfState(), { voters: [1], learners: [] });

    // the founder (the leader) stops: 2 and 3 are a majority of {1,2,3} and elect a leader
    await c.stop(1);
    const next = await c.waitLeader('a leader among the joined nodes', 20_000);
    t.true(next.id === 2 || next.id === 3);
    await next.propose(encodePut('b', val('2')));
    const follower = [n2, n3].find((n) => n !== next)!;
    await waitFor(`node ${follower.id} to follow ${next.id}`, () => follower.leader === next.id);
    const fwd = await follower.propose(encodePut('c', val('3')), { forward: true });
    t.true(fwd.index > 0);
    t.is(str(c.member(follower.id).kv?.get('c')), '3', 'a write proposed on a follower is forwarded and commits');

    // a joined leader hands the same bootstrap configuration to the next joiner
    const n4 = await joinViaRpc(c, next);
    await waitFor('node 4 promoted', () => JSON.stringify(confOf(next)) === JSON.stringify({ voters: [1, 2, 3, 4], learners: [] }), 20_000);
    await waitFor('node 4 seeing voters 1-4', () => JSON.stringify(confOf(n4)) === JSON.stringify({ voters: [1, 2, 3, 4], learners: [] }), 20_000);
    t.deepEqual(n4.bootstrapConfState(), { voters: [1], learners: [] });
    await waitFor('node 4 applying c=3', () => str(c.member(4).kv?.get('c')) === '3');

    // the founder restarts and catches up with what was committed without it
    const back = await c.start(1);
    await waitFor('the founder applying c=3 after restart', () => str(c.member(1).kv?.get('c')) === '3', 20_000);
    await waitVoters(c, [1, 2, 3, 4]);
    t.is(back.leader, c.running().find((n) => n.isLeader)?.id ?? -1);
  } finally {
    await c.destroy();
  }
});

test.serial('a node joining after the leader compacted its log gets a snapshot with the configuration', async (t) => {
  const c = await Cluster.create(1, { snapshotEvery: 50, snapshotKeep: 10 });
  try {
    const founder = await c.waitLeader('the founder to lead');
    for (let i = 0; i < 4; i++) {
      await Promise.all(Array.from({ length: 40 }, (_, j) => founder.propose(encodePut(`s${i * 40 + j}`, val(`v${i * 40 + j}`)))));
    }
    t.true(founder.status().lastIndex >= 160);
    const n2 = await joinViaRpc(c, founder, { snapshotEvery: 50, snapshotKeep: 10 });
    await waitVoters(c, [1, 2]);
    await waitFor('node 2 catching up', () => n2.appliedIndex >= founder.appliedIndex, 20_000);
    t.is(str(c.member(2).kv?.get('s0')), 'v0', 'compacted state came with the snapshot');
    // node 3 also after compaction, through the peers' answer
    const m3 = await c.add();
    await founder.addMember(m3.id, m3.addr);
    const n3 = await c.start(m3.id, { snapshotEvery: 50, snapshotKeep: 10 }, true);
    await waitVoters(c, [1, 2, 3]);
    await waitFor('node 3 catching up', () => str(c.member(3).kv?.get('s159')) === 'v159', 20_000);
    // the joined pair carries on without the founder
    await c.stop(1);
    const next = await c.waitLeader('a leader among the joined nodes', 20_000);
    await next.propose(encodePut('after', val('x')));
    await waitFor('both joined nodes applying after=x', () => [n2, n3].every((n) => str(c.member(n.id).kv?.get('after')) === 'x'));
    t.deepEqual(confOf(n3), { voters: [1, 2, 3], learners: [] });
  } finally {
    await c.destroy();
  }
});

test.serial('a removed member learns its removal even when the others stop talking to it at once', async (t) => {
  const c = await Cluster.create(3);
  try {
    const leader = await c.waitLeader();
    const victim = c.running().find((n) => n !== leader)!;
    let removed = false;
    victim.on('removed', () => (removed = true));
    await leader.removeMember(victim.id);
    await waitFor(`node ${victim.id} learning it was removed`, () => removed, 20_000);
    t.true(leader.removedIds().includes(victim.id));
    t.false(leader.status().confState.voters.includes(victim.id));
  } finally {
    await c.destroy();
  }
});

test.serial('a joined node restarted with no addresses given still reaches the founder (its address is kept with the bootstrap configuration)', async (t) => {
  const c = await Cluster.create(1);
  try {
    const founder = await c.waitLeader('the founder to lead');
    await joinViaRpc(c, founder);
    await waitVoters(c, [1, 2]);
    const m3 = await c.add();
    await founder.addMember(m3.id, m3.addr);
    await c.start(m3.id, {}, true);
    await waitVoters(c, [1, 2, 3]);
    await c.stop(2);
    await founder.propose(encodePut('while-down', val('1')));
    // as shoald restarts a manager: from its data dir only (no bootstrap, no peers)
    const back = await c.start(2, { bootstrap: undefined, peers: [] });
    await waitFor('node 2 applying while-down=1', () => str(c.member(2).kv?.get('while-down')) === '1', 20_000);
    t.is(back.memberList().find((m) => m.id === 1)?.addr, c.member(1).addr);
    t.is(back.leader, founder.id);
  } finally {
    await c.destroy();
  }
});
