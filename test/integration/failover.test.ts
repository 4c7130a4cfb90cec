// Leader crash during a deploy on a real cluster (3 managers + 3 workers, hollow runtime).
import test from 'ava';
import { replicatedSpec } from '@shoal/testkit';
import { useCluster, waitRunning } from './_cluster.js';

const cluster = useCluster(test, { managers: 3, workers: 3, runtime: 'hollow', heartbeatPeriod: '500ms' });

test.serial('SIGKILL the leader in the middle of a deploy: converges, nothing lost, no duplicate slot', async (t) => {
  const c = cluster();
  const api = c.api;
  const leader = await c.leader();
  const res = await api.createService({ spec: replicatedSpec('deploy-under-failover', 12) });
  const id = res.service!.id;
  // kill the leader as soon as the create is acknowledged: its loops are creating, scheduling
  // and dispatching the 12 tasks right now
  await c.kill(leader, 'SIGKILL');
  const next = await c.leader(30_000);
  t.not(next.name, leader.name);
  // the acknowledged create survived the failover
  t.is((await api.getService({ serviceId: id })).service?.spec?.annotations?.name, 'deploy-under-failover');
  const { duplicates } = await waitRunning(api, id, 12, 60_000, 'deploy after leader failover');
  t.deepEqual(duplicates, []);
  // and a write after the failover is served by the new leader
  const more = await api.createService({ spec: replicatedSpec('after-failover', 3) });
  t.deepEqual((await waitRunning(api, more.service!.id, 3, 30_000, 'after-failover')).duplicates, []);
});
