// Raft benchmark: a 3-member Shoal raft cluster (separate processes, level storage with fsync,
// gRPC on loopback) against a 3-member etcd (Debian's etcd-server) on the same machine.
// Measures committed durable writes/s and commit latency with 1 and 64 concurrent clients
// (256-byte values), and leader failover time after SIGKILL of the leader.
//   npm run bench -- raft [--seconds 8] [--trials 20] [--warmup 5] [--no-etcd]
// Each system first runs --warmup seconds of 64-client writes that are not measured (Node's JIT
// and the page cache warm up; on a loaded machine a cold Node process is several times slower).
// Prints one JSON line per measurement; the last line is the summary.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machine } from './_machine.js';
import { EtcdTarget, ShoalTarget, killAll, type Target } from './raft/targets.js';
import { round, runFailover, runLoad, waitHealthy } from './raft/workload.js';

function opt(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const seconds = opt('seconds', 8);
const trials = opt('trials', 20);
const warmup = opt('warmup', 5);
const withEtcd = !process.argv.includes('--no-etcd');
const print = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

interface Summary {
  wps_c1: number;
  wps_c64: number;
  p50_ms_c1: number;
  p99_ms_c1: number;
  p50_ms_c64: number;
  p99_ms_c64: number;
  failover_p50_ms: number;
  failover_p99_ms: number;
}

async function measure(t: Target): Promise<Summary> {
  try {
    await t.start();
    await waitHealthy(t);
    if (warmup > 0) {
      const w = await runLoad(t, 64, warmup, 0);
      print({ bench: 'raft', system: t.name, measure: 'warmup', ...w });
    }
    const c1 = await runLoad(t, 1, seconds);
    print({ bench: 'raft', system: t.name, measure: 'writes', ...c1 });
    const c64 = await runLoad(t, 64, seconds);
    print({ bench: 'raft', system: t.name, measure: 'writes', ...c64 });
    const fo = await runFailover(t, trials, (o) => print({ bench: 'raft', system: t.name, measure: 'failover-trial', ...o }));
    print({ bench: 'raft', system: t.name, measure: 'failover', ...fo });
    return {
      wps_c1: c1.wps,
      wps_c64: c64.wps,
      p50_ms_c1: c1.p50_ms,
      p99_ms_c1: c1.p99_ms,
      p50_ms_c64: c64.p50_ms,
      p99_ms_c64: c64.p99_ms,
      failover_p50_ms: fo.p50_ms,
      failover_p99_ms: fo.p99_ms,
    };
  } finally {
    await t.stop();
  }
}

function findEtcd(): string | undefined {
  const which = (): string | undefined => {
    const r = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  let bin = which();
  if (!bin) {
    print({ bench: 'raft', note: 'etcd not found: apt-get install -y etcd-server etcd-client' });
    spawnSync('apt-get', ['install', '-y', 'etcd-server', 'etcd-client'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    bin = which();
  }
  return bin;
}

// whatever happens, no member process outlives the bench
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-raft-'));
let exitCode = 0;
try {
  print({ bench: 'raft', params: { seconds, trials, warmup_seconds: warmup, value_bytes: 256, members: 3, tick_ms: 100, election_ticks: 10 }, machine: machine() });
  const shoal = await measure(new ShoalTarget(join(dir, 'shoal'), 27101 + Math.floor(Math.random() * 500) * 4));
  let etcd: Summary | null = null;
  const bin = withEtcd ? findEtcd() : undefined;
  if (bin) {
    try {
      etcd = await measure(new EtcdTarget(join(dir, 'etcd'), bin));
    } catch (err) {
      print({ bench: 'raft', system: 'etcd', error: err instanceof Error ? err.message : String(err) });
    }
  }
  const ratio = (a: number, b: number | undefined): number | null => (b && Number.isFinite(a) && Number.isFinite(b) ? round(a / b, 3) : null);
  const ratios = etcd
    ? {
        wps_c1: ratio(shoal.wps_c1, etcd.wps_c1),
        wps_c64: ratio(shoal.wps_c64, etcd.wps_c64),
        p50_ms_c1: ratio(shoal.p50_ms_c1, etcd.p50_ms_c1),
        p99_ms_c64: ratio(shoal.p99_ms_c64, etcd.p99_ms_c64),
        failover_p50_ms: ratio(shoal.failover_p50_ms, etcd.failover_p50_ms),
        failover_p99_ms: ratio(shoal.failover_p99_ms, etcd.failover_p99_ms),
      }
    : {};
  print({ bench: 'raft', shoal, etcd, ratios });
} catch (err) {
  exitCode = 1;
  print({ bench: 'raft', error: err instanceof Error ? err.stack : String(err), logs: dir });
} finally {
  if (exitCode === 0) rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
