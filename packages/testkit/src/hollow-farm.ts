// A hollow node farm: many simulated worker nodes in one process. Each node is a real Agent
// (@shoal/agent) with its own HollowRuntime, registering with a worker join token and holding its
// own dispatcher session, heartbeats and assignment stream — exactly what a shoald worker does,
// minus the process, the level db (kept in memory) and the gRPC server of its own.
//
//   const farm = new HollowFarm({ managers: ['127.0.0.1:4000'], joinToken, count: 500 });
//   await farm.start();      // resolves once every node has a session
//   farm.stats();            // { nodes, connected, tasks: { RUNNING: … } }
//   await farm.stop();
//
// Run as a process (what the scale benchmark does, through spawnHollowFarm):
//   node --import tsx --conditions=shoal-src packages/testkit/src/hollow-farm.ts \
//     --managers 127.0.0.1:4000,127.0.0.1:4002 --token SWMTKN-… --count 500 [--prefix f1] [--poll-ms 30000]
// It prints JSON lines on stdout: {"farm":"up",…} once every node has a session, then
// {"farm":"stats",…} every --stats-ms; it exits on SIGTERM/SIGINT or when SHOAL_PARENT_PID dies.
import { pathToFileURL } from 'node:url';
import { Agent, jsonLogger, silentLogger, type LogLevel, type Logger } from '@shoal/agent';
import type { NodeDescription } from '@shoal/api';
import { HollowRuntime } from '@shoal/runtime';

export interface HollowFarmOptions {
  /** manager addresses; agents start at the first and follow the list their sessions send */
  managers: string[];
  joinToken: string;
  count: number;
  /** hostname prefix: nodes are `${prefix}-0`, `${prefix}-1`, … (default "hollow") */
  prefix?: string;
  /** nodes registering or opening their first session at once (default 50) */
  startConcurrency?: number;
  /** inspect interval of running hollow containers (default 30 s: they only exit when stopped) */
  pollIntervalMs?: number;
  /** agent status coalescing window (default 100 ms) */
  statusBatchMs?: number;
  /** per-node resources advertised to the scheduler */
  nanoCpus?: number;
  memoryBytes?: number;
  /** hollow container start latency (default 0) */
  startLatencyMs?: number;
  logger?: Logger;
}

export interface HollowFarmStats {
  nodes: number;
  registered: number;
  connected: number;
  tasks: Record<string, number>;
}

export class HollowFarm {
  readonly agents: Agent[] = [];
  private readonly log: Logger;

  constructor(readonly opts: HollowFarmOptions) {
    if (opts.count < 1) throw new Error('HollowFarm: count must be at least 1');
    if (opts.managers.length === 0) throw new Error('HollowFarm: no manager address');
    this.log = opts.logger ?? silentLogger;
  }

  private description(hostname: string): NodeDescription {
    return {
      hostname,
      platform: { os: 'linux', architecture: 'amd64' },
      resources: { nanoCpus: this.opts.nanoCpus ?? 8e9, memoryBytes: this.opts.memoryBytes ?? 32 * 2 ** 30, pids: 0 },
      engineVersion: 'hollow',
      engineLabels: {},
    };
  }

  private newAgent(i: number): Agent {
    const hostname = `${this.opts.prefix ?? 'hollow'}-${i}`;
    let seed = 1;
    for (const ch of hostname) seed = (seed * 31 + ch.charCodeAt(0)) >>> 0;
    return new Agent({
      dataDir: undefined,
      managers: this.opts.managers,
      joinToken: this.opts.joinToken,
      runtime: new HollowRuntime({ seed, ...(this.opts.startLatencyMs ? { startLatencyMs: this.opts.startLatencyMs } : {}) }),
      hostname,
      nodeDescription: this.description(hostname),
      dataPathAddr: '127.0.0.1',
      logger: this.log.child({ hostname }),
      pollIntervalMs: this.opts.pollIntervalMs ?? 30_000,
      // hollow containers exit only when told to, and a thousand agents listing them 200 ms after
      // every start would be the farm's work, not the cluster's
      startCheckMs: 0,
      statusBatchMs: this.opts.statusBatchMs ?? 100,
      // a thousand sessions must not reconnect in lock step after a manager hiccup
      backoffBaseMs: 200,
      backoffMaxMs: 5_000,
      rpcTimeoutMs: 20_000,
    });
  }

  /** Start every node, at most `startConcurrency` waiting for their first session at once. */
  async start(opts: { timeoutMs?: number } = {}): Promise<void> {
    const limit = Math.max(1, this.opts.startConcurrency ?? 50);
    const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < this.opts.count) {
        const agent = this.newAgent(next++);
        this.agents.push(agent);
        const connected = new Promise<void>((resolve) => {
          const on = ({ state }: { state: string }): void => {
            if (state !== 'connected') return;
            agent.off('session', on);
            resolve();
          };
          agent.on('session', on);
        });
        await agent.start();
        const left = deadline - Date.now();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`hollow farm: ${agent.opts.hostname} has no session after the start deadline (${this.stats().connected}/${this.opts.count} connected)`)), Math.max(0, left));
        });
        try {
          await Promise.race([connected, timeout]);
        } finally {
          clearTimeout(timer);
        }
      }
    };
    await Promise.all(Array.from({ length: limit }, worker));
    this.log.info('hollow farm up', { nodes: this.agents.length });
  }

  stats(): HollowFarmStats {
    const tasks: Record<string, number> = {};
    let connected = 0;
    let registered = 0;
    for (const a of this.agents) {
      if (a.session.state === 'connected') connected++;
      if (a.nodeId) registered++;
      a.reconciler.tasksByState(tasks);
    }
    return { nodes: this.agents.length, registered, connected, tasks };
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop().catch(() => undefined)));
  }
}

// ------------------------------------------------------------------ process entry point

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

function numFlag(argv: string[], name: string): number | undefined {
  const v = flag(argv, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: not a number: ${v}`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const managers = (flag(argv, 'managers') ?? '').split(',').filter(Boolean);
  const joinToken = flag(argv, 'token') ?? '';
  const count = numFlag(argv, 'count') ?? 100;
  const statsMs = numFlag(argv, 'stats-ms') ?? 2_000;
  const level = (process.env['SHOAL_LOG_LEVEL'] ?? 'error') as LogLevel;
  const logger = jsonLogger({ component: 'hollow-farm' }, { level });
  const farm = new HollowFarm({
    managers,
    joinToken,
    count,
    prefix: flag(argv, 'prefix') ?? 'hollow',
    logger,
    ...(numFlag(argv, 'poll-ms') !== undefined ? { pollIntervalMs: numFlag(argv, 'poll-ms')! } : {}),
    ...(numFlag(argv, 'start-concurrency') !== undefined ? { startConcurrency: numFlag(argv, 'start-concurrency')! } : {}),
  });
  const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');
  let stopping = false;
  const stop = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      const hard = setTimeout(() => process.exit(code), 10_000);
      hard.unref();
      await farm.stop();
    }
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  const parent = Number(process.env['SHOAL_PARENT_PID'] ?? 0);
  if (parent > 0) {
    setInterval(() => {
      try {
        process.kill(parent, 0);
      } catch {
        void stop(0);
      }
    }, 1_000).unref();
  }
  const started = Date.now();
  try {
    await farm.start();
  } catch (err) {
    out({ farm: 'error', message: (err as Error).message, ...farm.stats() });
    await stop(1);
  }
  out({ farm: 'up', ms: Date.now() - started, ...farm.stats() });
  setInterval(() => out({ farm: 'stats', ...farm.stats() }), statsMs);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stdout.write(JSON.stringify({ farm: 'error', message: (err as Error).message }) + '\n');
    process.exit(1);
  });
}
