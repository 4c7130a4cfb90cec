// A worker crash on a real cluster (3 managers + 3 workers, hollow runtime, 500 ms heartbeats):
// the node is marked down after 3 missed heartbeats and its tasks are replaced elsewhere; when it
// comes back (shoald run) it rejoins as the same node.
import test from 'ava';
import { NodeState } from '@shoal/api';
import { observed, replicatedSpec, slotReport } from '@shoal/testkit';
import { useCluster, waitRunning } from './_cluster.js';

const cluster = useCluster(test, { managers: 3, workers: 3, runtime: 'hollow', heartbeatPeriod: '500ms' });

test.serial('SIGKILL a worker: its tasks are replaced elsewhere once it is marked down', async (t) => {
  const c = cluster();
  const api = c.api;
  const res = await api.createService({ spec: replicatedSpec('survivor', 6) });
  const id = res.service!.id;
  const { report } = await waitRunning(api, id, 6, 30_000, 'survivor');
  const victim = c.workers().find((w) => report.byNode[w.nodeId()!]);
  t.truthy(victim, 'a worker runs survivor tasks');
  await c.kill(victim!, 'SIGKILL');
  const victimId = victim!.nodeId()!;
  await c.waitFor(`worker ${victim!.name} is marked DOWN`, async () => {
    const n = (await api.getNode({ nodeId: victimId })).node;
    return observed(n?.status?.state === NodeState.NODE_DOWN, NodeState[n?.status?.state ?? 0]);
  }, 20_000);
  const after = await c.waitFor(`survivor: 6 RUNNING, none on the dead worker ${victim!.name}`, async () => {
    const r = await slotReport(api, id);
    return observed(r.running === 6 && r.desired === 6 && !r.byNode[victimId], r, r);
  }, 30_000);
  t.deepEqual(after!.duplicates, []);
  await c.restart(victim!);
});
