// Shared wiring of the e2e tests on real containers: 1 manager + N workers as separate shoald
// processes, every worker with its own private containerd (own root, state, socket, bridge), the
// manager drained (it runs the hollow runtime and never gets a task), and one CriRuntime per
// worker for the test to look at containers from outside (list, inspect, exec, kill).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestFn } from 'ava';
import { HealthState, NodeAvailability, NodeSpec, TaskState, type Task } from '@shoal/api';
import { CriRuntime, type OwnedContainer } from '@shoal/runtime';
import { containerdUp, observed, slotReport, startCluster, waitFor, type Cluster, type ControlApi, type NodeProcess, type PrivateContainerd, type SlotReport } from '@shoal/testkit';

export const IMAGE_V1 = 'shoal-test/busybox:1';
export const IMAGE_V2 = 'shoal-test/busybox:2';

export interface E2eOptions {
  /** prefix of the containerd instance names (`<prefix>-w1`, …); [a-z0-9-], short */
  prefix: string;
  workers: number;
  /** bridge subnet index of the first worker's containerd (10.213.x.0/24); the next ones follow */
  subnetBase: number;
  /** agent heartbeat period (a node is down after 3 missed) */
  heartbeatPeriod?: string;
}

export interface E2eEnv {
  cluster: Cluster;
  api: ControlApi;
  /** containerd of each worker, by node name (w1, w2, …) */
  containerd: Map<string, PrivateContainerd>;
  /** a CriRuntime on each worker's containerd, by node name */
  runtimes: Map<string, CriRuntime>;
  workers: NodeProcess[];
  /** the worker process of a node id */
  workerOf(nodeId: string): NodeProcess;
  runtimeOf(nodeId: string): CriRuntime;
}

/**
 * Start the environment in test.before and tear it down in test.after.always (also when the
 * start failed half-way: whatever was started is stopped). Returns a getter for the tests.
 */
export function useE2e(test: TestFn, opts: E2eOptions): () => E2eEnv {
  let env: E2eEnv | undefined;
  const started: PrivateContainerd[] = [];
  const runtimes = new Map<string, CriRuntime>();
  let cluster: Cluster | undefined;
  let stateDir: string | undefined;

  test.before(async () => {
    const containerd = new Map<string, PrivateContainerd>();
    const names = Array.from({ length: opts.workers }, (_, i) => `w${i + 1}`);
    // One after the other: containerd-up.sh builds the shared test images on first use.
    for (const [i, w] of names.entries()) {
      const cd = await containerdUp(`${opts.prefix}-${w}`, { subnetIndex: opts.subnetBase + i });
      started.push(cd);
      containerd.set(w, cd);
    }
    const nodeFlags: Record<string, string[]> = { m1: ['--runtime', 'hollow'] };
    for (const w of names) {
      const cd = containerd.get(w)!;
      nodeFlags[w] = ['--containerd-socket', cd.socket, '--cgroup-parent', cd.cgroupParent(w)];
    }
    cluster = await startCluster({
      managers: 1,
      workers: opts.workers,
      runtime: 'cri',
      heartbeatPeriod: opts.heartbeatPeriod ?? '500ms',
      nodeFlags,
    });
    const c = cluster;
    const api = c.api;
    // The manager only manages: drain it before any service exists.
    const m1 = (await api.getNode({ nodeId: c.node('m1').nodeId()! })).node!;
    await api.updateNode({ nodeId: m1.id, nodeVersion: m1.meta!.version, spec: NodeSpec.fromPartial({ ...m1.spec, availability: NodeAvailability.DRAIN }) });
    stateDir = mkdtempSync(join(tmpdir(), `shoal-${opts.prefix}-rt-`));
    for (const w of names) {
      runtimes.set(w, new CriRuntime({ endpoint: containerd.get(w)!.socket, stateRoot: join(stateDir, w), cgroupRoot: `/shoal/${opts.prefix}-test-${w}` }));
    }
    const workers = names.map((w) => c.node(w));
    const workerOf = (nodeId: string): NodeProcess => {
      const n = workers.find((x) => x.nodeId() === nodeId);
      if (!n) throw new Error(`node ${nodeId} is not one of the workers (${workers.map((x) => `${x.name}=${x.nodeId()}`).join(', ')})`);
      return n;
    };
    env = { cluster: c, api, containerd, runtimes, workers, workerOf, runtimeOf: (nodeId) => runtimes.get(workerOf(nodeId).name)! };
  });
  test.afterEach.always((t) => {
    if (!t.passed && cluster) t.log(cluster.failureReport(30));
  });
  test.after.always(async () => {
    for (const rt of runtimes.values()) await rt.close().catch(() => {});
    await cluster?.stop().catch(() => {});
    // Whatever the agents left (containers, mounts, cgroups, bridges) goes with containerd.
    await Promise.all(started.map((cd) => cd.down().catch(() => {})));
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });
  return () => {
    if (!env) throw new Error('the e2e environment did not start (see the before hook)');
    return env;
  };
}

export const stateName = (s: TaskState | undefined): string => TaskState[s ?? TaskState.NEW] ?? String(s);

export async function tasksOf(api: ControlApi, serviceId: string): Promise<Task[]> {
  return (await api.listTasks({ serviceIds: [serviceId] }, { timeoutMs: 10_000 })).tasks;
}

/** Tasks desired and observed RUNNING. */
export const runningTasks = (tasks: readonly Task[]): Task[] => tasks.filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING);

/**
 * Wait until the service has exactly `n` tasks desired RUNNING, all observed RUNNING (and healthy
 * when `healthy`), and never two live tasks in one slot.
 */
export async function waitConverged(api: ControlApi, serviceId: string, n: number, timeoutMs: number, what: string, opts: { healthy?: boolean; extra?: (tasks: Task[]) => boolean } = {}): Promise<Task[]> {
  const got = await waitFor<Task[]>(
    `${what}: ${n} tasks RUNNING${opts.healthy ? ' and healthy' : ''} (exactly ${n} desired)`,
    async () => {
      const all = await tasksOf(api, serviceId);
      const live = all.filter((t) => t.desiredState === TaskState.RUNNING);
      const run = runningTasks(all);
      const healthy = !opts.healthy || run.every((t) => t.status?.health === HealthState.HEALTHY);
      const ok = live.length === n && run.length === n && healthy && (opts.extra?.(run) ?? true);
      return observed(ok, summarize(all), run);
    },
    timeoutMs,
    { intervalMs: 300 },
  );
  return got!;
}

/** A compact view of a service's tasks for failure messages. */
export function summarize(tasks: readonly Task[]): unknown {
  const counts: Record<string, number> = {};
  for (const t of tasks) {
    const k = `${stateName(t.status?.state)}/desired ${stateName(t.desiredState)}`;
    counts[k] = (counts[k] ?? 0) + 1;
  }
  const errs = tasks.filter((t) => t.status?.err).slice(-3).map((t) => ({ slot: t.slot, err: t.status!.err }));
  return { counts, errs };
}

export async function report(api: ControlApi, serviceId: string): Promise<SlotReport> {
  return slotReport(api, serviceId);
}

/** The containers of a service on one worker's containerd, by task id. */
export async function containersOf(rt: CriRuntime, serviceId: string): Promise<Map<string, OwnedContainer>> {
  const out = new Map<string, OwnedContainer>();
  for (const c of await rt.list()) if (c.serviceId === serviceId) out.set(c.handle.taskId, c);
  return out;
}
