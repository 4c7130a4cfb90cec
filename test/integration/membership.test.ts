// Managers and membership on a real cluster (3 managers + 2 workers, hollow runtime):
// demote and promote, a demotion that would lose quorum is refused. (Removed nodes: removed-node.test.ts.)
// The leader's role loop carries roles out: a demotion records the node a worker and takes it out
// of raft (its daemon carries on as a worker), a promotion records it a manager (its daemon joins
// raft at its next registration renewal); the Control API refuses a demotion that would leave the
// voters without a reachable majority.
import test from 'ava';
import { NodeRole, NodeSpec, RaftMemberStatus, ShoalError } from '@shoal/api';
import { observed } from '@shoal/testkit';
import { useCluster } from './_cluster.js';

const cluster = useCluster(test, { managers: 3, workers: 2, runtime: 'hollow', heartbeatPeriod: '500ms' });

/** read-modify-write of the node's desired role, again when the node changed in between (Conflict) */
async function setRole(nodeId: string, role: NodeRole): Promise<void> {
  const api = cluster().api;
  for (let attempt = 1; ; attempt++) {
    const node = (await api.getNode({ nodeId, read: { linearizable: true } })).node!;
    try {
      await api.updateNode({ nodeId, nodeVersion: node.meta!.version, spec: NodeSpec.fromPartial({ ...node.spec, desiredRole: role }) });
      return;
    } catch (err) {
      if (!(err instanceof ShoalError && err.code === 'Conflict') || attempt >= 5) throw err;
    }
  }
}

async function managerIds(): Promise<string[]> {
  const res = await cluster().api.listNodes({ roles: [NodeRole.MANAGER] });
  return res.nodes.filter((n) => n.managerStatus?.raftId).map((n) => n.id).sort();
}

test.serial('demote a manager to a worker, then promote it back', async (t) => {
  const c = cluster();
  const leader = await c.leader();
  const target = c.managers().find((m) => m !== leader)!;
  const id = target.nodeId()!;
  await setRole(id, NodeRole.WORKER);
  await c.waitFor(`${target.name} is a worker and out of raft`, async () => {
    const ids = await managerIds();
    const n = (await c.api.getNode({ nodeId: id })).node;
    return observed(n?.role === NodeRole.WORKER && !ids.includes(id), { role: NodeRole[n?.role ?? 0], managers: ids });
  }, 30_000);
  await setRole(id, NodeRole.MANAGER);
  await c.waitFor(`${target.name} is a manager again with a raft id`, async () => {
    const ids = await managerIds();
    return observed(ids.includes(id) && ids.length === 3, ids);
  }, 60_000);
  // it rejoined raft as a learner; the leader promotes it once it caught up. Until then the next
  // test's quorum arithmetic (3 voters) does not hold.
  await c.waitVoters(60_000);
  t.is((await c.api.getNode({ nodeId: id })).node?.role, NodeRole.MANAGER);
});

test.serial('a demotion that would lose quorum is refused', async (t) => {
  const c = cluster();
  const leader = await c.leader();
  const [down, other] = c.managers().filter((m) => m !== leader);
  await c.kill(down!, 'SIGKILL');
  await c.waitFor(`the managers see ${down!.name} unreachable`, async () => {
    const n = (await c.api.getNode({ nodeId: down!.nodeId()! })).node;
    return observed(n?.managerStatus?.reachability === RaftMemberStatus.UNREACHABLE, RaftMemberStatus[n?.managerStatus?.reachability ?? 0]);
  }, 30_000);
  // 3 voters, one down: demoting another leaves 2 voters with only 1 reachable
  const err = await t.throwsAsync(setRole(other!.nodeId()!, NodeRole.WORKER), { instanceOf: ShoalError });
  t.is(err!.code, 'FailedPrecondition');
  t.regex(err!.message, /quorum/i);
  await c.restart(down!);
});
