// A 3-node cluster in one process on loopback (level storage in temp dirs, real gRPC): elects,
// replicates, serves linearizable reads, survives the leader's stop, and a stopped node catches
// up on restart, from the log and from a snapshot once the log was compacted.
import test from 'ava';
import { RaftError } from '../../src/core/types.js';
import { encodePut } from '../../src/kv/index.js';
import { LevelStorage } from '../../src/storage/index.js';
import { Cluster, str, val, waitFor } from './cluster.js';

test.serial('elects, replicates, reads, and fails over when the leader stops', async (t) => {
  const c = await Cluster.create(3);
  try {
    const leader = await c.waitLeader();
    const followers = c.running().filter((n) => n !== leader);
    const { index } = await leader.propose(encodePut('a', val('1')));
    t.true(index > 0);
    t.is(str(c.member(leader.id).kv?.get('a')), '1', 'applied on the leader when propose resolves');
    await waitFor('followers applying a=1', () => c.members.every((m) => str(m.kv?.get('a')) === '1'));

    // a follower refuses with the leader's id, or forwards when asked
    const f = followers[0]!;
    const err = await t.throwsAsync(f.propose(encodePut('b', val('x'))), { instanceOf: RaftError });
    t.is((err as RaftError).code, 'NotLeader');
    t.is((err as RaftError).leader, leader.id);
    const fwd = await f.propose(encodePut('b', val('2')), { forward: true });
    t.is(str(c.member(f.id).kv?.get('b')), '2', 'a forwarded proposal resolves once applied locally');
    t.true(fwd.index > index);

    // linearizable read on a follower sees the last write
    await leader.propose(encodePut('c', val('3')));
    const ri = await f.readIndex();
    t.true(f.appliedIndex >= ri);
    t.is(str(c.member(f.id).kv?.get('c')), '3');

    // many concurrent proposals (group commit)
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => leader.propose(encodePut(`k${i}`, val(String(i))))));
    t.is(new Set(many.map((r) => r.index)).size, 200);

    // stop the leader: the others elect a new one and keep committing
    await c.stop(leader.id);
    const next = await c.waitLeader('a new leader after the old one stopped');
    t.not(next.id, leader.id);
    await next.propose(encodePut('d', val('4')));
    t.is(str(c.member(next.id).kv?.get('d')), '4');

    // the old leader comes back and catches up
    await c.start(leader.id);
    await waitFor(`node ${leader.id} applying d=4 after restart`, () => str(c.member(leader.id).kv?.get('d')) === '4');
    t.is(str(c.member(leader.id).kv?.get('k199')), '199');
  } finally {
    await c.destroy();
  }
});

test.serial('a node that missed compacted entries catches up through a snapshot', async (t) => {
  const c = await Cluster.create(3, { snapshotEvery: 50, snapshotKeep: 10 });
  try {
    const leader = await c.waitLeader();
    const lagging = c.running().find((n) => n !== leader)!;
    const lagId = lagging.id;
    await c.stop(lagId);
    for (let i = 0; i < 6; i++) {
      await Promise.all(Array.from({ length: 40 }, (_, j) => leader.propose(encodePut(`s${i * 40 + j}`, val(`v${i * 40 + j}`)))));
    }
    t.true(leader.status().lastIndex >= 240);
    await c.start(lagId);
    const back = c.node(lagId);
    await waitFor(`node ${lagId} catching up to ${leader.appliedIndex}`, () => back.appliedIndex >= leader.appliedIndex, 15_000);
    t.is(str(c.member(lagId).kv?.get('s0')), 'v0', 'state before the snapshot came with it');
    t.is(str(c.member(lagId).kv?.get('s239')), 'v239');
    t.deepEqual(
      back.memberList().map((m) => m.addr).sort(),
      c.members.map((m) => m.addr).sort(),
      'member addresses came with the snapshot',
    );
    // restart again: the node restores from its own snapshot
    await c.stop(lagId);
    await c.start(lagId);
    await waitFor(`node ${lagId} restored from its own snapshot`, () => str(c.member(lagId).kv?.get('s239')) === 'v239');
    t.is(str(c.member(lagId).kv?.get('s0')), 'v0', 'the oldest write survives the second restart too');
  } finally {
    await c.destroy();
  }
});

test.serial('snapshots are taken by accumulated log bytes, and compaction keeps a bounded tail in bytes', async (t) => {
  // the entry count alone would never snapshot here: entries of 8 KiB, 64 KiB of log per snapshot
  const opts = { snapshotEvery: 1_000_000, snapshotBytes: 64 * 1024, snapshotKeepBytes: 16 * 1024 };
  const c = await Cluster.create(3, opts);
  try {
    const leader = await c.waitLeader();
    const lagId = c.running().find((n) => n !== leader)!.id;
    await c.stop(lagId);
    const big = (i: number): Uint8Array => Buffer.alloc(8 * 1024, i % 251);
    for (let i = 0; i < 60; i++) await leader.propose(encodePut(`b${i}`, big(i)));
    const last = leader.status().lastIndex;
    // the stopped follower is far behind a compacted log: it catches up through a snapshot
    await c.start(lagId, opts);
    const back = c.node(lagId);
    await waitFor(`node ${lagId} catching up to ${last}`, () => back.appliedIndex >= last, 15_000);
    const got = (k: string): Buffer => Buffer.from(c.member(lagId).kv?.get(k) ?? new Uint8Array());
    t.true(got('b0').equals(Buffer.from(big(0))), 'state from before the snapshot came with it');
    t.true(got('b59').equals(Buffer.from(big(59))));
    const lid = leader.id;
    await c.stop(lid);
    const st = await LevelStorage.open(c.member(lid).dir);
    try {
      t.true(st.snapshot().metadata.index > 0, 'a snapshot was taken');
      t.true(st.firstIndex() > 2, `the log was compacted (first index ${st.firstIndex()})`);
      const held = st.bytesBetween(0, st.lastIndex());
      // at most the tail kept behind the snapshot, plus what came since it (less than the larger of
      // snapshotBytes and the snapshot's size), plus the entry that crossed the threshold
      const bound = 16 * 1024 + Math.max(64 * 1024, st.snapshot().data.byteLength) + 9 * 1024;
      t.true(held <= bound, `log held ${held} bytes, bound ${bound}`);
      t.true(held < 60 * 8 * 1024, 'far less than the whole log');
    } finally {
      await st.close();
    }
  } finally {
    await c.destroy();
  }
});

test.serial('membership: a fourth node joins as a learner, is promoted, then removed', async (t) => {
  const c = await Cluster.create(3);
  try {
    const leader = await c.waitLeader();
    await leader.propose(encodePut('x', val('1')));
    const m4 = await c.add();
    await c.start(m4.id, {}, true);
    await leader.addMember(m4.id, m4.addr);
    await waitFor('node 4 promoted to voter', () => leader.status().confState.voters.includes(4));
    await waitFor('node 4 applying x=1', () => str(m4.kv?.get('x')) === '1');
    await leader.removeMember(4);
    t.deepEqual(leader.status().confState.voters, [1, 2, 3]);
    await leader.propose(encodePut('y', val('2')));
    // leadership transfer
    const to = c.running().find((n) => n !== leader && n.id !== 4)!;
    await leader.transferLeadership(to.id);
    await c.waitLeader('the transferee to lead');
    t.true(to.isLeader);
  } finally {
    await c.destroy();
  }
});

test.serial('a single voter leads at once, without waiting for an election timeout (no tick ever fires here)', async (t) => {
  const c = await Cluster.create(1, { tickMs: 600_000 });
  try {
    const n = await c.waitLeader('the only voter leading before its first tick');
    t.is(n.id, 1);
    const { index } = await n.propose(encodePut('k', val('v')));
    t.true(index > 0);
    // restarted from its data dir it leads at once again
    await c.stop(1);
    await c.start(1, { tickMs: 600_000 });
    const again = await c.waitLeader('the only voter leading again after a restart');
    t.is(str(c.member(again.id).kv?.get('k')), 'v');
  } finally {
    await c.destroy();
  }
});
