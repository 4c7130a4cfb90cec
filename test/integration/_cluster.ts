// Shared ava wiring for the integration tests: one real cluster per test file, started in
// test.before, always stopped in test.after.always, and the tail of every process's log printed
// when a test fails.
import { spawn } from 'node:child_process';
import type { TestFn } from 'ava';
import { TaskState } from '@shoal/api';
import { observed, REPO_ROOT, shoaldCommand, slotReport, startCluster, waitFor, type Cluster, type ClusterOptions, type ControlApi, type SlotReport } from '@shoal/testkit';

export function useCluster(test: TestFn, opts: ClusterOptions): () => Cluster {
  let cluster: Cluster | undefined;
  test.before(async () => {
    cluster = await startCluster(opts);
  });
  test.afterEach.always((t) => {
    if (!t.passed && cluster) t.log(cluster.failureReport(40));
  });
  test.after.always(async () => {
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error('the cluster did not start (see the before hook)');
    return cluster;
  };
}

/**
 * Wait until `serviceId` has exactly `n` tasks desired and observed RUNNING. Every report seen on
 * the way is checked for duplicate slots, which must never happen (returned for the test to assert).
 */
export async function waitRunning(api: ControlApi, serviceId: string, n: number, timeoutMs: number, what = `service ${serviceId}`): Promise<{ report: SlotReport; duplicates: string[] }> {
  const duplicates = new Set<string>();
  const report = await waitFor<SlotReport>(
    `${what}: ${n} tasks RUNNING (and exactly ${n} desired)`,
    async () => {
      const r = await slotReport(api, serviceId);
      for (const d of r.duplicates) duplicates.add(d);
      return observed(r.running === n && r.desired === n, r, r);
    },
    timeoutMs,
    { intervalMs: 300 },
  );
  return { report: report!, duplicates: [...duplicates] };
}

export function stateName(s: TaskState | undefined): string {
  return TaskState[s ?? TaskState.NEW] ?? String(s);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node ARGS…` from the repository root with extra `env`, collecting its output. */
export function run(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `shoald leave [--force]` on the node whose data dir is `dataDir`. */
export function shoaldLeave(dataDir: string, force = false): Promise<RunResult> {
  return run([...shoaldCommand(), 'leave', '--data-dir', dataDir, ...(force ? ['--force'] : [])]);
}
