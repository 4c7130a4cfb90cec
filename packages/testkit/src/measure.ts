// Measurements on a running cluster for end-to-end benchmarks (scale, failover). Each returns
// milliseconds measured on the wall clock of the harness process.
import { performance } from 'node:perf_hooks';
import { ShoalError } from '@shoal/api';
import type { Cluster } from './cluster.js';
import { replicatedSpec, slotReport } from './services.js';
import { observed, waitFor } from './wait.js';

/** Create a replicated service of `replicas` and time it until every task is RUNNING; then remove it. */
export async function measureDeploy(cluster: Cluster, replicas: number, opts: { name?: string; timeoutMs?: number } = {}): Promise<{ ms: number; firstRunningMs: number }> {
  const api = cluster.api;
  const name = opts.name ?? `bench-${Date.now().toString(36)}`;
  const t0 = performance.now();
  const id = (await api.createService({ spec: replicatedSpec(name, replicas) })).service!.id;
  let first = NaN;
  // polled every 50 ms: that is the resolution of both numbers
  await waitFor(`${name}: ${replicas} RUNNING`, async () => {
    const r = await slotReport(api, id);
    if (Number.isNaN(first) && r.running > 0) first = performance.now() - t0;
    return observed(r.running === replicas, { running: r.running, states: r.states });
  }, opts.timeoutMs ?? 120_000, { intervalMs: 50 });
  const ms = performance.now() - t0;
  await api.removeService({ serviceId: id });
  return { ms, firstRunningMs: first };
}

/**
 * SIGKILL the leader and time until (a) another manager is leader and (b) a write is accepted.
 * The killed manager stays down (restart it yourself if the run goes on).
 */
export async function measureFailover(cluster: Cluster, opts: { timeoutMs?: number } = {}): Promise<{ electedMs: number; writableMs: number; killed: string; leader: string }> {
  const old = await cluster.leader();
  const t0 = performance.now();
  await cluster.kill(old, 'SIGKILL');
  const next = await cluster.leader(opts.timeoutMs ?? 30_000);
  const electedMs = performance.now() - t0;
  await cluster.waitFor('a write is accepted after the failover', async () => {
    try {
      const res = await cluster.api.getCluster({});
      const c = res.cluster!;
      await cluster.api.updateCluster({ clusterVersion: c.meta!.version, spec: c.spec! }, { timeoutMs: 2_000 });
      return true;
    } catch (err) {
      if (err instanceof ShoalError && err.code === 'Conflict') return false;
      throw err;
    }
  }, opts.timeoutMs ?? 30_000);
  return { electedMs, writableMs: performance.now() - t0, killed: old.name, leader: next.name };
}
