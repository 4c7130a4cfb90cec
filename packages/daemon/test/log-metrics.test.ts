import test from 'ava';
import { request } from 'node:http';
import { daemonLogger } from '../src/log.js';
import { agentRegistry, MetricsServer, registrySource } from '../src/metrics.js';
import type { AgentMetrics } from '@shoal/agent';

test('JSON log lines carry component, ids and fields; human mode is one readable line', (t) => {
  const lines: string[] = [];
  const log = daemonLogger({ component: 'shoald', nodeId: 'n1' }, { format: 'json', write: (l) => lines.push(l), now: () => 0 });
  log.child({ component: 'agent' }).info('hello', { taskId: 't1', err: new Error('boom') });
  log.debug('hidden');
  t.deepEqual(JSON.parse(lines[0]!), { time: '1970-01-01T00:00:00.000Z', level: 'info', component: 'agent', nodeId: 'n1', msg: 'hello', taskId: 't1', err: 'boom' });
  t.is(lines.length, 1);
  const human: string[] = [];
  daemonLogger({ component: 'x' }, { format: 'human', write: (l) => human.push(l), now: () => 0 }).warn('careful', { n: 2 });
  t.is(human[0], '00:00:00.000 WARN  [x] careful  n=2');
});

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

test('/metrics serves the agent gauges and every extra source', async (t) => {
  const m: AgentMetrics = {
    nodeId: 'n1',
    sessionState: 'connected',
    manager: 'a:1',
    sessionId: 's',
    sessions: 2,
    heartbeats: 7,
    heartbeatFailures: 1,
    heartbeatPeriodMs: 500,
    assignmentGaps: 0,
    statusBatches: 3,
    statusUpdates: 9,
    statusPending: 0,
    tasksByState: { RUNNING: 4 },
  };
  const reg = agentRegistry(() => m, () => ({ nodeId: 'n1', role: 'worker' }));
  const silent = daemonLogger({}, { write: () => {} });
  const server = new MetricsServer(() => [registrySource(reg), { text: async () => '# manager\nshoal_raft_term 3\n' }], silent);
  const addr = await server.listen('127.0.0.1:0');
  try {
    const res = await get(`http://${addr}/metrics`);
    t.is(res.status, 200);
    t.regex(res.body, /shoal_agent_tasks\{state="running"\} 4/);
    t.regex(res.body, /shoal_agent_session_state\{state="connected"\} 1/);
    t.regex(res.body, /shoal_agent_heartbeats_total 7/);
    t.regex(res.body, /shoal_daemon_node_info\{node_id="n1",role="worker"\} 1/);
    t.regex(res.body, /shoal_raft_term 3/);
    t.is((await get(`http://${addr}/nope`)).status, 404);
  } finally {
    await server.close();
  }
});
