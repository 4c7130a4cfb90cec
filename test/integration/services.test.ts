// Deploy, scale, global services and drain on a real cluster: 3 managers + 3 workers, hollow runtime.
import test from 'ava';
import { NodeAvailability, NodeSpec, TaskState } from '@shoal/api';
import { globalSpec, metricValue, observed, replicatedSpec, slotReport } from '@shoal/testkit';
import { useCluster, waitRunning } from './_cluster.js';

const cluster = useCluster(test, { managers: 3, workers: 3, runtime: 'hollow', heartbeatPeriod: '500ms' });
let webId = '';

test.serial('a replicated service: every task RUNNING, one per slot, spread over the nodes', async (t) => {
  const api = cluster().api;
  const res = await api.createService({ spec: replicatedSpec('web', 6) });
  webId = res.service!.id;
  const { report, duplicates } = await waitRunning(api, webId, 6, 30_000, 'web');
  t.deepEqual(duplicates, []);
  // spread: 6 tasks over 6 nodes, at most 2 on any one
  t.true(Object.values(report.byNode).every((n) => n <= 2), JSON.stringify(report.byNode));
});

test.serial('scale up then down', async (t) => {
  const api = cluster().api;
  await api.scaleService({ serviceId: webId, replicas: 10 });
  t.deepEqual((await waitRunning(api, webId, 10, 30_000, 'web scaled to 10')).duplicates, []);
  await api.scaleService({ serviceId: webId, replicas: 3 });
  t.deepEqual((await waitRunning(api, webId, 3, 30_000, 'web scaled to 3')).duplicates, []);
});

test.serial('a global service runs once per node and follows a joining node', async (t) => {
  const c = cluster();
  const api = c.api;
  const res = await api.createService({ spec: globalSpec('agentd') });
  const id = res.service!.id;
  const before = await waitRunning(api, id, 6, 30_000, 'global agentd on 6 nodes');
  t.deepEqual(before.duplicates, []);
  t.is(Object.keys(before.report.byNode).length, 6);
  const w = await c.addWorker();
  const after = await waitRunning(api, id, 7, 30_000, 'global agentd on 7 nodes after a join');
  t.truthy(after.report.byNode[w.nodeId()!], 'the new node runs the global task');
  t.deepEqual(after.duplicates, []);
});

test.serial('draining a node moves its tasks elsewhere; activating it makes it eligible again', async (t) => {
  const c = cluster();
  const api = c.api;
  await api.scaleService({ serviceId: webId, replicas: 6 });
  const { report } = await waitRunning(api, webId, 6, 30_000, 'web at 6');
  const victimId = Object.keys(report.byNode).find((id) => c.byId(id)?.role === 'worker');
  t.truthy(victimId, 'some worker runs web tasks');
  const node = (await api.getNode({ nodeId: victimId! })).node!;
  await api.updateNode({
    nodeId: node.id,
    nodeVersion: node.meta!.version,
    spec: NodeSpec.fromPartial({ ...node.spec, availability: NodeAvailability.DRAIN }),
  });
  await c.waitFor(
    `web: 6 RUNNING and none on drained node ${victimId}`,
    async () => {
      const r = await slotReport(api, webId);
      return observed(r.running === 6 && r.desired === 6 && !r.byNode[victimId!], r);
    },
    30_000,
  );
  const global = (await api.listServices({ filters: { names: ['agentd'] } })).services[0]!;
  const g = await slotReport(api, global.id);
  t.falsy(g.byNode[victimId!], 'a drained node runs no global task either');
  const again = (await api.getNode({ nodeId: victimId! })).node!;
  await api.updateNode({ nodeId: again.id, nodeVersion: again.meta!.version, spec: NodeSpec.fromPartial({ ...again.spec, availability: NodeAvailability.ACTIVE }) });
  await waitRunning(api, global.id, 7, 30_000, 'global agentd back on the re-activated node');
  t.is((await slotReport(api, global.id)).byNode[victimId!], 1, 'the re-activated node runs its global task again');
});

test.serial('every node serves /metrics; a manager answers the CLI on its control socket', async (t) => {
  const c = cluster();
  const leaders: string[] = [];
  let running = 0;
  for (const n of c.nodes) {
    const m = await c.metrics(n);
    t.is(metricValue(m, 'shoal_agent_session_state', { state: 'connected' }), 1, `${n.name}: agent session connected`);
    running += metricValue(m, 'shoal_agent_tasks', { state: 'running' }) ?? 0;
    if (n.role === 'manager') {
      t.true((metricValue(m, 'shoal_raft_term') ?? 0) >= 1, `${n.name}: raft term`);
      if (metricValue(m, 'shoal_raft_leader') === 1) leaders.push(n.name);
    }
  }
  t.is(leaders.length, 1, `exactly one manager reports itself leader: ${leaders.join(', ')}`);
  const tasks = (await c.api.listTasks({})).tasks.filter((x) => x.status?.state === TaskState.RUNNING);
  t.is(running, tasks.length, 'the agents run what the managers think is running');
  const leader = await c.leader();
  const follower = c.managers().find((m) => m !== leader)!;
  const local = c.controlSocket(follower);
  try {
    const names = (await local.listServices({})).services.map((s) => s.spec?.annotations?.name).sort();
    t.deepEqual(names, ['agentd', 'web']);
  } finally {
    local.close();
  }
});
