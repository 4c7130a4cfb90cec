// The ceiling of the raft bench's client on this machine: the same closed-loop writers as
// bench/raft.ts (runLoad, one grpc-js channel), against a RaftKV server in its own process whose
// Put answers at once (no raft, no disk). Whatever a real cluster reaches is below this; when a
// system comes close to it, the bench measures its client more than the system.
//   flock /tmp/shoal-bench.lock node --import tsx --conditions=shoal-src bench/raft/ceiling.ts [--clients 64] [--seconds 8]
// Prints the LoadResult as one JSON line ({"bench":"raft-ceiling",…}).
import { RaftKVClient, RaftKVService, bindServer, createClient, createServer, grpc, type RaftKVServer } from '@shoal/api';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { killAll, sleep, type Target } from './targets.js';
import { runLoad } from './workload.js';

function opt(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const serve = process.argv.indexOf('--serve');
if (serve >= 0) {
  let index = 0;
  const echo: RaftKVServer = {
    // answered on the next turn of the event loop, as a committed write is at the earliest
    put: (_call, cb) => void setImmediate(() => cb(null, { index: ++index })),
    get: (_call, cb) => cb(null, { value: Buffer.alloc(0), found: false, index }),
  };
  const server = createServer();
  server.addService(RaftKVService, echo);
  await bindServer(server, process.argv[serve + 1] as string);
  process.stdout.write('ready\n');
} else {
  process.on('exit', killAll);
  const addr = `127.0.0.1:${28901 + Math.floor(Math.random() * 90)}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=shoal-src', fileURLToPath(import.meta.url), '--serve', addr], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`echo server exited with ${code}`)));
  });
  const kv = createClient(RaftKVClient, addr);
  const echo: Target = {
    name: 'echo',
    size: 1,
    start: async () => undefined,
    leader: async () => 0,
    put: (_m, key, value, timeoutMs) =>
      new Promise((resolve, reject) => kv.put({ key, value }, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err) => (err ? reject(err) : resolve()))),
    kill: () => undefined,
    restart: async () => undefined,
    healthy: async () => true,
    pid: (m) => (m === 0 ? child.pid : undefined),
    stop: async () => void child.kill(),
  };
  await runLoad(echo, 64, 2, 0); // warm-up (JIT), as the bench's
  const r = await runLoad(echo, opt('clients', 64), opt('seconds', 8));
  process.stdout.write(`${JSON.stringify({ bench: 'raft-ceiling', ...r, cpu_ms_per_write: { server: r.cpu_ms_per_write.members[0], client: r.cpu_ms_per_write.client } })}\n`);
  kv.close();
  child.kill();
  await sleep(50);
  process.exit(0);
}
