// A node removed from the cluster cannot come back with its old identity: restarted from its
// data dir, shoald is refused by the managers and exits (code 3) saying so.
import test from 'ava';
import { useCluster } from './_cluster.js';

const cluster = useCluster(test, { managers: 1, workers: 2, runtime: 'hollow', heartbeatPeriod: '500ms' });

test.serial('a removed worker cannot come back with its old identity', async (t) => {
  const c = cluster();
  const w = c.workers()[0]!;
  const id = w.nodeId()!;
  await c.kill(w, 'SIGKILL');
  await c.api.removeNode({ nodeId: id, force: true });
  const err = await t.throwsAsync(c.api.getNode({ nodeId: id }));
  t.regex(err!.message, /not found/);
  w.run();
  const exit = await w.waitExit(60_000);
  t.is(exit.code, 3, w.tailText(20));
  t.regex(w.tailText(20), /was removed from the cluster/);
  // and it did not sneak back in
  t.is((await c.api.listNodes({})).nodes.filter((n) => n.id === id).length, 0);
});
