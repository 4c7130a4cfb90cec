// End-to-end cluster benchmark on real shoald processes (hollow runtime):
//   bring-up of M managers + W workers, deploy of R replicas until all RUNNING (median/p99 of
//   `runs`), and one leader failover (SIGKILL → new leader, → first accepted write).
// Prints one JSON line per deploy run, then a summary JSON object as the LAST line.
//
//   node --import tsx --conditions=shoal-src packages/testkit/bench/cluster.ts [--managers 3] [--workers 5] [--replicas 100] [--runs 3]
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { measureDeploy, measureFailover, startCluster } from '../src/index.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: not a number`);
  return v;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const params = { managers: arg('managers', 3), workers: arg('workers', 5), replicas: arg('replicas', 100), runs: arg('runs', 3) };
const t0 = performance.now();
const cluster = await startCluster({ managers: params.managers, workers: params.workers, runtime: 'hollow', heartbeatPeriod: '1s' });
const bringUpMs = performance.now() - t0;
try {
  const deploys: number[] = [];
  for (let i = 0; i < params.runs; i++) {
    const d = await measureDeploy(cluster, params.replicas, { name: `bench-${i}` });
    deploys.push(d.ms);
    console.log(JSON.stringify({ bench: 'cluster.deploy', run: i, replicas: params.replicas, ms: Math.round(d.ms), first_running_ms: Math.round(d.firstRunningMs) }));
  }
  const failover = params.managers >= 3 ? await measureFailover(cluster) : undefined;
  const sorted = [...deploys].sort((a, b) => a - b);
  const cpus = os.cpus();
  console.log(
    JSON.stringify({
      bench: 'cluster',
      params,
      bring_up_ms: Math.round(bringUpMs),
      deploy_ms: { median: Math.round(pct(sorted, 50)), p99: Math.round(pct(sorted, 99)), runs: sorted.map(Math.round) },
      failover: failover ? { elected_ms: Math.round(failover.electedMs), writable_ms: Math.round(failover.writableMs) } : null,
      machine: { cpus: cpus.length, cpu_model: cpus[0]?.model ?? 'unknown', mem_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    }),
  );
} catch (err) {
  console.error(cluster.failureReport(20));
  throw err;
} finally {
  await cluster.stop();
}
