// E2E on real containers (issue 5 item 7): 1 manager + 2 workers as separate shoald processes,
// each worker with its own containerd. A busybox httpd service with a health check is deployed,
// checked to serve, scaled, has a container killed from outside, survives a SIGKILL of one agent
// (its containers untouched, their true state reported) and is drained off a worker.
//
// The steps run in order on one cluster and one service (test.serial); each waits on conditions
// with generous deadlines, since the machine is small and shared.
import test from 'ava';
import { HealthState, NodeAvailability, NodeSpec, ServiceSpec, TaskState, type Task } from '@shoal/api';
import type { CriRuntime } from '@shoal/runtime';
import { observed, waitFor } from '@shoal/testkit';
import { containersOf, IMAGE_V1, runningTasks, stateName, summarize, tasksOf, useE2e, waitConverged } from './_e2e.js';

// A long heartbeat period: the agent we SIGKILL must come back before its node is declared down
// (3 missed periods), or the managers would rightly move its tasks away.
const env = useE2e(test, { prefix: 'e2e-ct', workers: 2, subnetBase: 241, heartbeatPeriod: '20s' });

const PORT = 8080;
const PAGE = 'shoal-e2e-httpd';
const spec = (replicas: number): ServiceSpec =>
  ServiceSpec.fromPartial({
    annotations: { name: 'web', labels: {} },
    task: {
      container: {
        image: IMAGE_V1,
        command: ['sh', '-c', `mkdir -p /tmp/www && echo "${PAGE} $(hostname)" > /tmp/www/index.html && exec httpd -f -p ${PORT} -h /tmp/www`],
        healthcheck: {
          test: ['CMD-SHELL', `wget -q -O /dev/null http://127.0.0.1:${PORT}/ || exit 1`],
          interval: { seconds: 1, nanos: 0 },
          timeout: { seconds: 5, nanos: 0 },
          retries: 3,
        },
        // busybox httpd as PID 1 ignores SIGTERM: keep the wait for SIGKILL short.
        stopGracePeriod: { seconds: 1, nanos: 0 },
      },
      restart: { delay: { seconds: 0, nanos: 0 } },
    },
    mode: { $case: 'replicated', replicated: { replicas } },
  });

let serviceId = '';

async function scale(replicas: number): Promise<void> {
  const { api } = env();
  await api.scaleService({ serviceId, replicas });
}

const nodesOf = (tasks: readonly Task[]): Set<string> => new Set(tasks.map((t) => t.nodeId));

/** Wait until `n` containers of the service are running on all workers together (and report them). */
async function waitContainers(n: number, what: string): Promise<void> {
  const e = env();
  await waitFor(
    `${what}: ${n} containers of the service running across the workers' containerds`,
    async () => {
      const perNode: Record<string, number> = {};
      let total = 0;
      for (const [name, rt] of e.runtimes) {
        const cs = [...(await containersOf(rt, serviceId)).values()].filter((c) => c.state === 'running');
        perNode[name] = cs.length;
        total += cs.length;
      }
      return observed(total === n, perNode);
    },
    90_000,
    { intervalMs: 500 },
  );
}

async function handleOf(rt: CriRuntime, taskId: string) {
  const c = (await containersOf(rt, serviceId)).get(taskId);
  if (!c) throw new Error(`no container for task ${taskId} on its worker's containerd`);
  return c.handle;
}

/** The IPv4 address of a task's container on its node-local bridge. */
async function ipOf(rt: CriRuntime, taskId: string): Promise<string> {
  const r = await rt.exec(await handleOf(rt, taskId), ['ip', '-4', '-o', 'addr', 'show', 'eth0'], 10_000);
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout);
  if (r.exitCode !== 0 || !m) throw new Error(`task ${taskId}: no eth0 address (exit ${r.exitCode}: ${r.stdout}${r.stderr})`);
  return m[1]!;
}

test.serial('deploy: 6 busybox httpd replicas with a health check run and turn healthy on both workers', async (t) => {
  t.timeout(180_000);
  const { api } = env();
  serviceId = (await api.createService({ spec: spec(6) })).service!.id;
  const run = await waitConverged(api, serviceId, 6, 150_000, 'web', { healthy: true });
  t.is(nodesOf(run).size, 2, 'the replicas are spread over both workers');
  t.true(run.every((x) => env().workers.some((w) => w.nodeId() === x.nodeId)), 'no task on the (drained) manager');
  t.true(run.every((x) => x.status?.health === HealthState.HEALTHY));
  t.true(run.every((x) => Boolean(x.status?.container?.containerId) && (x.status?.container?.pid ?? 0) > 0), 'every task reports its container id and pid');
  await waitContainers(6, 'deploy');
});

test.serial('they serve: a request exec-ed into every container, and over the node-local bridge from the host and from a neighbour', async (t) => {
  t.timeout(120_000);
  const e = env();
  const run = runningTasks(await tasksOf(e.api, serviceId));
  t.is(run.length, 6);
  const ips = new Map<string, string>();
  for (const task of run) {
    const rt = e.runtimeOf(task.nodeId);
    const handle = await handleOf(rt, task.id);
    t.is(handle.containerId, task.status?.container?.containerId ?? '', `task ${task.id}: the reported container id is the real one`);
    const r = await rt.exec(handle, ['wget', '-q', '-O', '-', `http://127.0.0.1:${PORT}/`], 15_000);
    t.is(r.exitCode, 0, `task ${task.id}: wget inside the container (${r.stderr})`);
    t.true(r.stdout.startsWith(PAGE), `task ${task.id} serves its page, got ${JSON.stringify(r.stdout)}`);
    ips.set(task.id, await ipOf(rt, task.id));
  }
  t.is(new Set(ips.values()).size, 6, 'every container has its own address');
  // From the host (the bridges live in the root network namespace).
  for (const [taskId, ip] of ips) {
    const res = await fetch(`http://${ip}:${PORT}/`, { signal: AbortSignal.timeout(15_000) });
    t.true((await res.text()).startsWith(PAGE), `host -> task ${taskId} at ${ip}`);
  }
  // Container to container on the same node.
  for (const w of e.workers) {
    const mine = run.filter((x) => x.nodeId === w.nodeId());
    if (mine.length < 2) continue;
    const [a, b] = mine as [Task, Task];
    const rt = e.runtimes.get(w.name)!;
    const r = await rt.exec(await handleOf(rt, a.id), ['wget', '-q', '-O', '-', `http://${ips.get(b.id)}:${PORT}/`], 15_000);
    t.true(r.exitCode === 0 && r.stdout.startsWith(PAGE), `${w.name}: task ${a.id} -> task ${b.id} (${r.stdout}${r.stderr})`);
  }
});

test.serial('scale to 12, then down to 2: tasks and real containers follow', async (t) => {
  t.timeout(240_000);
  const { api } = env();
  await scale(12);
  const up = await waitConverged(api, serviceId, 12, 150_000, 'web scaled to 12', { healthy: true });
  t.is(nodesOf(up).size, 2);
  await waitContainers(12, 'scaled to 12');
  await scale(2);
  const down = await waitConverged(api, serviceId, 2, 90_000, 'web scaled to 2');
  t.is(down.length, 2);
  await waitContainers(2, 'scaled to 2');
});

test.serial('a container killed from outside is replaced: old task FAILED, a new task RUNNING in its slot', async (t) => {
  t.timeout(180_000);
  const e = env();
  const [victim] = runningTasks(await tasksOf(e.api, serviceId));
  t.truthy(victim);
  const rt = e.runtimeOf(victim!.nodeId);
  const info = await rt.inspect(await handleOf(rt, victim!.id));
  t.is(info.state, 'running');
  t.true((info.pid ?? 0) > 0, 'the runtime knows the container main process');
  process.kill(info.pid!, 'SIGKILL');
  await e.cluster.waitFor(
    `task ${victim!.id} reported FAILED after its process was killed`,
    async () => {
      const x = (await tasksOf(e.api, serviceId)).find((y) => y.id === victim!.id);
      return observed(x?.status?.state === TaskState.FAILED, x && { state: stateName(x.status?.state), err: x.status?.err, desired: stateName(x.desiredState) });
    },
    60_000,
  );
  const run = await waitConverged(e.api, serviceId, 2, 90_000, 'web back at 2 after a kill', {
    healthy: true,
    extra: (r) => r.some((x) => x.slot === victim!.slot && x.id !== victim!.id),
  });
  const replacement = run.find((x) => x.slot === victim!.slot)!;
  t.not(replacement.id, victim!.id);
  t.not(replacement.status?.container?.containerId, victim!.status?.container?.containerId);
  const old = (await tasksOf(e.api, serviceId)).find((y) => y.id === victim!.id)!;
  t.true(old.desiredState >= TaskState.SHUTDOWN, `the killed task is not wanted any more (desired ${stateName(old.desiredState)})`);
  t.regex(old.status?.err ?? '', /exit|137|kill/i, 'the failure says why');
  await waitContainers(2, 'after the replacement');
});

test.serial('SIGKILL of one agent: its containers keep running untouched, and after a restart it reports their true state', async (t) => {
  t.timeout(240_000);
  const e = env();
  await scale(4);
  const before = await waitConverged(e.api, serviceId, 4, 120_000, 'web at 4', { healthy: true, extra: (r) => e.workers.some((w) => r.filter((x) => x.nodeId === w.nodeId()).length >= 2) });
  const w = e.workers.find((x) => before.filter((y) => y.nodeId === x.nodeId()).length >= 2)!;
  const rt = e.runtimes.get(w.name)!;
  const mine = before.filter((x) => x.nodeId === w.nodeId());
  const [keep, doomed] = mine as [Task, Task];
  const keepHandle = await handleOf(rt, keep.id);
  const keepInfo = await rt.inspect(keepHandle);
  t.is(keepInfo.state, 'running');

  await e.cluster.kill(w, 'SIGKILL');
  // While the agent is dead, one of its containers dies: after the restart the agent must say so.
  const doomedInfo = await rt.inspect(await handleOf(rt, doomed.id));
  process.kill(doomedInfo.pid!, 'SIGKILL');
  await waitFor(`container of task ${doomed.id} exited`, async () => observed((await rt.inspect(await handleOf(rt, doomed.id))).state === 'exited', 'not yet'), 30_000);
  await e.cluster.restart(w);

  // The agent re-adopted the survivor: same container, same process, never restarted.
  await e.cluster.waitFor(
    `${w.name} restarted: task ${doomed.id} reported FAILED, task ${keep.id} still RUNNING`,
    async () => {
      const all = await tasksOf(e.api, serviceId);
      const k = all.find((x) => x.id === keep.id);
      const d = all.find((x) => x.id === doomed.id);
      return observed(k?.status?.state === TaskState.RUNNING && d?.status?.state === TaskState.FAILED, { keep: k && stateName(k.status?.state), doomed: d && [stateName(d.status?.state), d.status?.err] });
    },
    90_000,
  );
  const afterInfo = await rt.inspect(keepHandle);
  t.is(afterInfo.state, 'running', 'the surviving container still runs');
  t.is(afterInfo.pid, keepInfo.pid, 'same main process (not restarted)');
  t.is(afterInfo.startedAt, keepInfo.startedAt, 'same start time (not restarted)');
  const kept = (await tasksOf(e.api, serviceId)).find((x) => x.id === keep.id)!;
  t.is(kept.status?.container?.containerId, keepHandle.containerId, 'the task still points at the same container');
  t.is(kept.desiredState, TaskState.RUNNING);
  const onNode = [...(await containersOf(rt, serviceId)).values()].filter((c) => c.handle.taskId === keep.id);
  t.is(onNode.length, 1, 'no second container was created for the surviving task');
  const doomedNow = (await tasksOf(e.api, serviceId)).find((x) => x.id === doomed.id)!;
  t.regex(doomedNow.status?.err ?? '', /exit|137|kill/i, `the dead container's task reports why (${doomedNow.status?.err})`);
  await waitConverged(e.api, serviceId, 4, 120_000, 'web back at 4 after the agent restart', { healthy: true });
  await waitContainers(4, 'after the agent restart');
});

test.serial('drain a worker: its tasks move to the other worker, its containers stop', async (t) => {
  t.timeout(180_000);
  const e = env();
  const run = runningTasks(await tasksOf(e.api, serviceId));
  const w = e.workers.find((x) => run.some((y) => y.nodeId === x.nodeId()))!;
  const other = e.workers.find((x) => x !== w)!;
  const node = (await e.api.getNode({ nodeId: w.nodeId()! })).node!;
  await e.api.updateNode({ nodeId: node.id, nodeVersion: node.meta!.version, spec: NodeSpec.fromPartial({ ...node.spec, availability: NodeAvailability.DRAIN }) });
  const moved = await waitConverged(e.api, serviceId, 4, 120_000, `web off drained ${w.name}`, {
    healthy: true,
    extra: (r) => r.every((x) => x.nodeId === other.nodeId()),
  });
  t.true(moved.every((x) => x.nodeId === other.nodeId()));
  await waitFor(
    `no container of the service running on drained ${w.name}`,
    async () => {
      const cs = [...(await containersOf(e.runtimes.get(w.name)!, serviceId)).values()].filter((c) => c.state === 'running');
      return observed(cs.length === 0, cs.map((c) => c.handle.taskId));
    },
    60_000,
    { intervalMs: 500 },
  );
  const live = (await tasksOf(e.api, serviceId)).filter((x) => x.nodeId === w.nodeId() && x.status?.state !== undefined && x.status.state <= TaskState.RUNNING);
  t.deepEqual(live.map((x) => x.id), [], `no live task left on ${w.name}: ${JSON.stringify(summarize(live))}`);
});

