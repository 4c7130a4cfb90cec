// /metrics for Prometheus on every node: the daemon's own registry (process metrics and the
// agent's tasks/session/heartbeat gauges) plus the manager's registry on managers.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { AgentMetrics } from '@shoal/agent';
import type { Logger } from './log.js';

const SESSION_STATES = ['idle', 'registering', 'connecting', 'connected', 'backoff', 'stopped'] as const;

/** The agent's metrics, read from agent.metrics() at scrape time. */
export function agentRegistry(read: () => AgentMetrics | undefined, nodeInfo: () => { nodeId: string; role: string }): Registry {
  const registry = new Registry();
  const r = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'shoal_daemon_' });
  new Gauge({
    name: 'shoal_daemon_node_info',
    help: 'Constant 1, labelled with this node id and role',
    labelNames: ['node_id', 'role'],
    registers: r,
    collect() {
      this.reset();
      const n = nodeInfo();
      this.set({ node_id: n.nodeId, role: n.role }, 1);
    },
  });
  new Gauge({
    name: 'shoal_agent_tasks',
    help: 'Tasks known to this agent by observed state',
    labelNames: ['state'],
    registers: r,
    collect() {
      this.reset();
      const m = read();
      if (!m) return;
      for (const [state, n] of Object.entries(m.tasksByState)) this.set({ state: state.toLowerCase() }, n);
    },
  });
  new Gauge({
    name: 'shoal_agent_session_state',
    help: '1 for the current state of the dispatcher session, else 0',
    labelNames: ['state'],
    registers: r,
    collect() {
      const m = read();
      for (const s of SESSION_STATES) this.set({ state: s }, m?.sessionState === s ? 1 : 0);
    },
  });
  const counterLike = (name: string, help: string, pick: (m: AgentMetrics) => number): void => {
    // Monotonic values owned by the agent; exposed as gauges because prom-client counters
    // cannot be set to an absolute value.
    new Gauge({
      name,
      help,
      registers: r,
      collect() {
        const m = read();
        this.set(m ? pick(m) : 0);
      },
    });
  };
  counterLike('shoal_agent_sessions_total', 'Dispatcher sessions established', (m) => m.sessions);
  counterLike('shoal_agent_heartbeats_total', 'Heartbeats acknowledged by a dispatcher', (m) => m.heartbeats);
  counterLike('shoal_agent_heartbeat_failures_total', 'Heartbeats that failed', (m) => m.heartbeatFailures);
  counterLike('shoal_agent_status_updates_total', 'Task status updates sent', (m) => m.statusUpdates);
  counterLike('shoal_agent_assignment_gaps_total', 'Assignment stream gaps (full resync)', (m) => m.assignmentGaps);
  new Gauge({
    name: 'shoal_agent_heartbeat_period_seconds',
    help: 'Heartbeat period the dispatcher asked for',
    registers: r,
    collect() {
      const m = read();
      this.set(m ? m.heartbeatPeriodMs / 1000 : 0);
    },
  });
  return registry;
}

export interface MetricsSource {
  /** Prometheus text of one registry */
  text(): Promise<string>;
}

export function registrySource(reg: Registry): MetricsSource {
  return { text: () => reg.metrics() };
}

/** HTTP server for GET /metrics (and /healthz); `sources` is read at each scrape. */
export class MetricsServer {
  private server: Server | undefined;
  constructor(
    private readonly sources: () => MetricsSource[],
    private readonly log: Logger,
  ) {}

  async listen(addr: string): Promise<string> {
    const i = addr.lastIndexOf(':');
    const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(addr.slice(i + 1));
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' || (path !== '/metrics' && path !== '/healthz')) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      }
      Promise.all(this.sources().map((s) => s.text()))
        .then((parts) => {
          res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE }).end(parts.map((p) => (p.endsWith('\n') ? p : p + '\n')).join(''));
        })
        .catch((err: unknown) => {
          this.log.warn('metrics scrape failed', { err: (err as Error).message });
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
        });
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    const bound = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    this.log.info('metrics listening', { addr: bound });
    return bound;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
