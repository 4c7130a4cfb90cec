// `shoald leave` on a manager of a 3-manager hollow cluster: refused without --force (exit 1, one
// line, nothing changes); with --force it leaves raft first (2 members remain, still writable),
// exits 0, drops its state and is seen DOWN.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { NodeState } from '@shoal/api';
import { observed, replicatedSpec } from '@shoal/testkit';
import { shoaldLeave, useCluster, waitRunning } from './_cluster.js';

const cluster = useCluster(test, { managers: 3, workers: 0, runtime: 'hollow', heartbeatPeriod: '500ms' });

test.serial('a manager leaves only with --force, through raft', async (t) => {
  const c = cluster();
  const leader = await c.leader();
  const m = c.managers().find((x) => x !== leader)!;
  const id = m.nodeId()!;

  const refused = await shoaldLeave(m.dataDir);
  t.is(refused.code, 1, refused.stderr);
  t.regex(refused.stderr, /^shoald: leaving would remove a manager; demote it first \(shoal node demote\) or use --force[^\n]*\n$/);
  t.true(m.running);

  const r = await shoaldLeave(m.dataDir, true);
  t.is(r.code, 0, r.stderr);
  t.is((await m.waitExit(30_000)).code, 0, m.tailText(20));
  t.false(existsSync(join(m.dataDir, 'node.json')));
  t.false(existsSync(join(m.dataDir, 'manager')));
  t.true(m.lines().some((l) => l.includes('"left raft"')), m.tailText(30));

  const api = c.control(leader);
  await c.waitFor(`${m.name} is DOWN and out of raft`, async () => {
    const n = (await api.getNode({ nodeId: id })).node;
    return observed(n?.status?.state === NodeState.NODE_DOWN, NodeState[n?.status?.state ?? 0]);
  }, 30_000);
  // the two managers left still make a quorum: the cluster takes writes
  const res = await api.createService({ spec: replicatedSpec('after-leave', 2) });
  const { report } = await waitRunning(api, res.service!.id, 2, 60_000, 'after-leave');
  t.is(report.running, 2);
  t.falsy(report.byNode[id]);
});
