// `shoald leave` (what `shoal swarm leave` runs) on a real multi-process hollow cluster: a worker
// leaves (its process exits 0 and its data dir forgets the node), the managers mark it DOWN and
// replace its tasks, and it can join again as a new node; a manager is refused without --force
// (through the CLI: `shoal swarm leave` runs `shoald leave`).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { NodeState } from '@shoal/api';
import { observed, replicatedSpec, REPO_ROOT, slotReport } from '@shoal/testkit';
import { run, shoaldLeave, useCluster, waitRunning, type RunResult } from './_cluster.js';

const cluster = useCluster(test, { managers: 1, workers: 2, runtime: 'hollow', heartbeatPeriod: '500ms' });

/** `shoal swarm leave …` from the sources, running shoald from its sources too */
function shoalSwarmLeave(dataDir: string): Promise<RunResult> {
  return run([...TSX, join(REPO_ROOT, 'packages/cli/src/main.ts'), 'swarm', 'leave', '--data-dir', dataDir], {
    SHOALD_BIN: join(REPO_ROOT, 'packages/daemon/src/main.ts'),
    NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} ${TSX.join(' ')}`.trim(),
  });
}

const TSX = ['--import', 'tsx', '--conditions=shoal-src'];

test.serial('shoal swarm leave on a manager without --force is refused: exit 1, one line, still running', async (t) => {
  const c = cluster();
  const m = c.managers()[0]!;
  const r = await shoalSwarmLeave(m.dataDir);
  t.is(r.code, 1, r.stderr);
  // the only manager: it says that the cluster would lose its quorum too
  t.regex(r.stderr, /^shoald: leaving would remove a manager; demote it first \(shoal node demote\) or use --force; it would also lose raft quorum \(raft member \d+ is the last voter\)\n$/);
  t.true(m.running);
  t.truthy(m.nodeId());
});

test.serial('a worker leaves: exits 0, forgets its identity, is marked DOWN, its tasks are replaced; it joins again as a new node', async (t) => {
  const c = cluster();
  const api = c.api;
  const res = await api.createService({ spec: replicatedSpec('leaver', 4) });
  const sid = res.service!.id;
  const { report } = await waitRunning(api, sid, 4, 60_000, 'leaver');
  const w = c.workers().find((x) => report.byNode[x.nodeId()!]) ?? c.workers()[0]!;
  const oldId = w.nodeId()!;

  const r = await shoaldLeave(w.dataDir);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`Node ${oldId} left the swarm`));
  const exit = await w.waitExit(30_000);
  t.is(exit.code, 0, w.tailText(20));
  t.false(existsSync(join(w.dataDir, 'node.json')));
  t.false(existsSync(join(w.dataDir, 'agent')));

  await c.waitFor(`${w.name} is marked DOWN`, async () => {
    const n = (await api.getNode({ nodeId: oldId })).node;
    return observed(n?.status?.state === NodeState.NODE_DOWN, NodeState[n?.status?.state ?? 0]);
  }, 30_000);
  await c.waitFor(`leaver: 4 RUNNING, none on ${oldId}`, async () => {
    const s = await slotReport(api, sid);
    return observed(s.running === 4 && s.desired === 4 && !s.byNode[oldId], s, s);
  }, 60_000);

  const tokens = await c.joinTokens();
  w.join(tokens.worker, c.liveManagerAddrs());
  const newId = await c.waitFor(`${w.name} joins again`, async () => {
    const id = w.nodeId();
    if (!id) return observed<string>(false, 'no node.json yet');
    const n = (await api.getNode({ nodeId: id }).catch(() => ({ node: undefined }))).node;
    return observed(n?.status?.state === NodeState.NODE_READY, NodeState[n?.status?.state ?? 0], id);
  }, 60_000);
  t.truthy(newId);
  t.not(newId, oldId);
  // the old node stays listed (DOWN) until `shoal node rm`
  await api.removeNode({ nodeId: oldId, force: false });
  t.false((await api.listNodes({})).nodes.some((n) => n.id === oldId));
});
