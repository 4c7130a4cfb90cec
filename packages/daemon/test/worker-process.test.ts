// The worker side of a real shoald process against a stand-in manager: join with a worker token,
// the agent's session and heartbeats, /metrics, SIGTERM, restart from the data dir with the same
// identity, and the refusal to come back after being removed.
import test from 'ava';
import { rmSync as rmTmp } from 'node:fs';
const tmpDirs: string[] = [];
function keep(d: string): string {
  tmpDirs.push(d);
  return d;
}
test.after.always(() => {
  for (const d of tmpDirs) rmTmp(d, { recursive: true, force: true });
});
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, NodeProcess, waitFor } from '@shoal/testkit';
import { FakeManager, WORKER_TOKEN } from './helpers/fake-manager.js';

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

let node: NodeProcess | undefined;
test.afterEach.always((t) => {
  if (!t.passed && node) t.log(node.tailText(40));
});
test.after.always(async () => {
  await node?.kill('SIGKILL');
});

test.serial('join as a worker, heartbeat, serve /metrics, stop on SIGTERM, restart as the same node, refuse to return once removed', async (t) => {
  const mgr = await new FakeManager().start();
  const dir = keep(mkdtempSync(join(tmpdir(), 'shoald-w-')));
  const [p1, p2] = await freePorts(2);
  node = new NodeProcess({
    name: 'w1',
    role: 'worker',
    dataDir: join(dir, 'w1'),
    listenAddr: `127.0.0.1:${p1}`,
    metricsAddr: `127.0.0.1:${p2}`,
    flags: ['--runtime', 'hollow', '--heartbeat-period', '500ms', '--labels', 'zone=a'],
  });
  try {
    node.join(WORKER_TOKEN, [mgr.addr]);
    await waitFor('the worker registers and opens a session', () => mgr.sessions.length > 0 && mgr.heartbeats > 1, 60_000);
    const id = JSON.parse(readFileSync(join(dir, 'w1', 'node.json'), 'utf8')) as { nodeId: string; role: string; clusterId: string };
    t.like(id, { nodeId: 'node-1', role: 'worker', clusterId: 'cluster-1' });
    t.deepEqual(mgr.sessions, ['node-1'], 'the agent uses the identity the daemon registered (no second registration)');
    t.is(mgr.registered.length, 1);

    const metrics = await waitFor('/metrics shows a connected session', async () => {
      const body = await get(`http://${node!.metricsAddr}/metrics`);
      return { ok: /shoal_agent_session_state\{state="connected"\} 1/.test(body), observed: body.slice(0, 300), value: body };
    }, 20_000);
    t.regex(metrics!, /shoal_daemon_node_info\{node_id="node-1",role="worker"\} 1/);

    const exit = await node.kill('SIGTERM');
    t.is(exit?.code, 0);
    t.true(node.lines().some((l) => l.includes('"msg":"stopped"')));

    const before = mgr.sessions.length;
    node.run();
    await waitFor('the restarted worker opens a session as node-1', () => mgr.sessions.length > before, 60_000);
    t.is(mgr.sessions.at(-1), 'node-1');
    t.is(mgr.registered.length, 1, 'a restart does not register again');
    t.true(mgr.renewals >= 1, 'a restart asks whether the node is still a member');

    await node.kill('SIGKILL');
    mgr.removed.add('node-1');
    node.run();
    const gone = await node.waitExit(60_000);
    t.is(gone.code, 3);
    t.regex(node.tailText(10), /node node-1 was removed from the cluster/);
  } finally {
    mgr.stop();
  }
});
