// RaftKV.Put during an election: with no leader known the call is held until one is, instead of
// failing at once (so that clients need not poll every member while the members elect).
import test from 'ava';
import { grpc } from '@shoal/api';
import { leaderFromError } from '../../src/driver/service.js';
import { Cluster, waitFor } from './cluster.js';

test.serial('a Put on a member that knows no leader waits for the election, then commits or names the leader', async (t) => {
  const c = await Cluster.create(3);
  const client = c.kvClient(1);
  try {
    let leader = await c.waitLeader();
    // leave member 1 alone: without a quorum it cannot elect anyone
    for (const id of [2, 3]) if (id !== 1) await c.stop(id);
    if (leader.id === 1) {
      await waitFor('member 1 stepping down without a quorum', () => !c.node(1).isLeader, 15_000);
    }
    await waitFor('member 1 knowing no leader', () => c.node(1).leader === 0, 15_000);
    let settled = false;
    const put = new Promise<{ err: grpc.ServiceError | null; index: number }>((resolve) => {
      client.put({ key: 'k', value: Buffer.from('v') }, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err, res) => {
        settled = true;
        resolve({ err, index: res?.index ?? 0 });
      });
    });
    await new Promise((r) => setTimeout(r, 700));
    t.false(settled, 'held while no leader is known (not refused at once)');
    await c.start(2);
    leader = await c.waitLeader('a leader once member 2 is back', 20_000);
    const { err, index } = await put;
    if (err) {
      t.is(err.code, grpc.status.FAILED_PRECONDITION, `NotLeader, got ${err.code}: ${err.details}`);
      t.is(leaderFromError(err), leader.id, 'names the new leader');
    } else {
      t.true(index > 0, 'committed by member 1 as the new leader');
    }
  } finally {
    client.close();
    await c.destroy();
  }
});
