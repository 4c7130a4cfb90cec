// A manager taken out of raft (Raft.Leave at the leader — what a demotion does) keeps running as
// a worker with the same node id: its manager stops, node.json says worker, its agent stays up.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeState, RaftClient } from '@shoal/api';
import { observed, promisifiedClient } from '@shoal/testkit';
import { useCluster } from './_cluster.js';

const cluster = useCluster(test, { managers: 3, workers: 1, runtime: 'hollow', heartbeatPeriod: '500ms' });

test.serial('a manager removed from raft carries on as a worker with the same node id', async (t) => {
  const c = cluster();
  const leader = await c.leader();
  const target = c.managers().find((m) => m !== leader)!;
  const raft = promisifiedClient(RaftClient, leader.listenAddr);
  try {
    const members = await raft.members({});
    const me = members.members.find((m) => m.addr === target.listenAddr);
    t.truthy(me, `raft member for ${target.listenAddr} in ${JSON.stringify(members.members)}`);
    await raft.leave({ raftId: me!.raftId });
    await c.waitFor(`${target.name}: node.json says worker and raft has 2 members`, async () => {
      const id = JSON.parse(readFileSync(join(target.dataDir, 'node.json'), 'utf8')) as { role: string; raftId?: number };
      const m = await raft.members({});
      return observed(id.role === 'worker' && id.raftId === undefined && m.members.length === 2, { id, members: m.members.length });
    }, 30_000);
  } finally {
    raft.close();
  }
  t.true(target.running, 'the demoted node keeps running');
  t.true(target.lines().some((l) => l.includes('now a worker')));
  // still the same node, and its agent still has a session
  await c.waitFor(`${target.name} is READY as a node`, async () => {
    const n = (await c.api.getNode({ nodeId: target.nodeId()! })).node;
    return observed(n?.status?.state === NodeState.NODE_READY, NodeState[n?.status?.state ?? 0]);
  }, 30_000);
});
