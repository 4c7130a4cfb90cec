// One raft member as a process, serving Raft + RaftKV: used by bench/raft.ts.
//   node --import tsx --conditions=shoal-src bench/raft/node.ts \
//     --id 1 --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --data /tmp/x/n1 [--cluster-id bench]
// Env: RAFT_TICK_MS (100), RAFT_ELECTION_TICKS (10), RAFT_COMMIT_DELAY_MS and RAFT_SNAPSHOT_EVERY
// (the driver's defaults), RAFT_SNAPSHOT_STAGGER (by id, as shoald's managers), RAFT_LOOP_DELAY (below). Prints "ready <addr>" once serving.
import { RaftKVService, RaftService, bindServer, createServer } from '@shoal/api';
import { KvStateMachine, RaftNode, raftKvService, raftService, snapshotStaggerFor } from '@shoal/raft';
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

function arg(name: string, env?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0) return process.argv[i + 1];
  return env ? process.env[env] : undefined;
}

const id = Number(arg('id', 'RAFT_ID'));
const peersArg = arg('peers', 'RAFT_PEERS') ?? '';
const dataDir = arg('data', 'RAFT_DATA');
if (!id || !peersArg || !dataDir) {
  process.stderr.write('usage: node.ts --id N --peers 1=host:port,2=… --data DIR\n');
  process.exit(2);
}
const peers = peersArg.split(',').map((p) => {
  const [i, addr] = p.split('=');
  return { id: Number(i), addr: addr ?? '' };
});
const self = peers.find((p) => p.id === id);
if (!self) throw new Error(`--peers does not name ${id}`);

const kv = new KvStateMachine();
const node = await RaftNode.start({
  id,
  clusterId: arg('cluster-id', 'RAFT_CLUSTER_ID') ?? 'bench',
  dataDir,
  stateMachine: kv,
  bootstrap: peers,
  tickMs: Number(process.env.RAFT_TICK_MS ?? 100),
  electionTicks: Number(process.env.RAFT_ELECTION_TICKS ?? 10),
  ...(process.env.RAFT_COMMIT_DELAY_MS ? { commitDelayMs: Number(process.env.RAFT_COMMIT_DELAY_MS) } : {}),
  ...(process.env.RAFT_SNAPSHOT_EVERY ? { snapshotEvery: Number(process.env.RAFT_SNAPSHOT_EVERY) } : {}),
  // as shoald's managers do: the members take their snapshots in turn, not all at one index
  snapshotStagger: process.env.RAFT_SNAPSHOT_STAGGER ? Number(process.env.RAFT_SNAPSHOT_STAGGER) : snapshotStaggerFor(id),
});
const server = createServer();
server.addService(RaftService, raftService(node));
server.addService(RaftKVService, raftKvService(node, kv));
await bindServer(server, self.addr);
process.stdout.write(`ready ${self.addr}\n`);

// RAFT_LOOP_DELAY=<prefix>: the event loop's delay (p50/p99/max, ms, from 3 s after start) goes to
// <prefix>.<pid>.json at exit
if (process.env.RAFT_LOOP_DELAY) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  setTimeout(() => h.reset(), 3000).unref(); // not the start (module loading, the first election)
  const prefix = process.env.RAFT_LOOP_DELAY;
  process.on('exit', () => {
    const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
    writeFileSync(`${prefix}.${process.pid}.json`, JSON.stringify({ id, p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), leader: node.isLeader }));
  });
}

const shutdown = async (): Promise<void> => {
  server.forceShutdown();
  await node.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());

if (process.env.RAFT_STATUS_EVERY_MS) {
  setInterval(() => {
    const s = node.status();
    process.stderr.write(`${JSON.stringify({ status: { id: s.id, role: s.role, term: s.term, commit: s.commit, applied: s.applied, progress: s.progress } })}\n`);
  }, Number(process.env.RAFT_STATUS_EVERY_MS)).unref();
}
