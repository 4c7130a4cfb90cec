// Crashes on a real cluster (3 managers + 3 workers, hollow runtime, 500 ms heartbeats):
// SIGKILL every process and restart them all. (Leader crash: failover.test.ts; worker crash: worker-loss.test.ts.)
import test from 'ava';
import { replicatedSpec } from '@shoal/testkit';
import { useCluster, waitRunning } from './_cluster.js';

const cluster = useCluster(test, { managers: 3, workers: 3, runtime: 'hollow', heartbeatPeriod: '500ms' });

test.serial('SIGKILL every process, restart them all: the cluster state recovers', async (t) => {
  const c = cluster();
  const api = c.api;
  const survivor = (await api.createService({ spec: replicatedSpec('survivor', 6) })).service!;
  await waitRunning(api, survivor.id, 6, 30_000, 'survivor before the crash');
  const before = (await api.listServices({})).services.map((s) => s.spec?.annotations?.name).sort();
  const nodesBefore = (await api.listNodes({})).nodes.length;
  await Promise.all(c.nodes.map((n) => c.kill(n, 'SIGKILL')));
  // managers first (raft needs a quorum before anything answers), then the workers
  for (const m of c.managers()) await c.restart(m, { wait: false });
  await c.leader(60_000);
  for (const w of c.workers()) await c.restart(w, { wait: false });
  for (const n of c.nodes) await c.waitNodeReady(n, undefined, 60_000);
  t.deepEqual((await api.listServices({})).services.map((s) => s.spec?.annotations?.name).sort(), before);
  t.is((await api.listNodes({})).nodes.length, nodesBefore);
  const { duplicates } = await waitRunning(api, survivor.id, 6, 60_000, 'survivor after a full restart');
  t.deepEqual(duplicates, []);
});
