// update: a rolling update of 100 tasks with real containers — parallelism 10, delay 0, monitor
// 1 s, order stop-first, failure action pause — to a changed spec (one env var added), timed from
// the update call until the update state is COMPLETED and all tasks of the new spec are RUNNING.
// Single-node Shoal cluster (one shoald = manager + worker, private containerd), then the same on
// a single-node Docker Swarm (private dockerd; the Engine API call that
// `docker service update --update-parallelism 10 --update-delay 0s --update-monitor 1s --env-add …`
// makes). Run as root:
//
//   npm run bench -- update [--tasks 100] [--no-docker] [--no-shoal]
//
// Progress on stderr, JSON lines on stdout, the summary as the LAST line:
//   {"bench":"update","tasks":100,"shoal_s":…,"swarm_s":…,"ratio":…,"machine":…}
import { cpus, loadavg } from 'node:os';
import { TaskState, UpdateState, type Task } from '@shoal/api';
import { observed, waitFor } from '@shoal/testkit';
import { machine } from './_machine.js';
import {
  benchMain, cpuDiff, ensureDocker, flag, log, now, numArg, runningOf, seconds, shoalRemove, shoalSpec, shoalTasks, startShoal, startSwarm,
  stateCounts, swarmRemove, type CpuUse, swarmRunning, swarmSpec, swarmStates, swarmTasks,
} from './_containers.js';

const TASKS = numArg('tasks', 100);
const NEW_ENV = 'SHOAL_BENCH_UPDATE=2';
const STEP_MS = 600_000;
const MONITOR_S = 1;

/**
 * The CPU seconds the update cost in containerd, its shims (runc) and the task containers' cgroup:
 * everything but shoald. Divided by the cores, plus the monitor window the update waits out after
 * its last task, it is the shortest this update could take on this machine if shoald cost nothing
 * and every core were busy throughout (the floor the README compares the target with).
 */
function runtimeFloor(byProcess: Record<string, CpuUse>): { runtime_cpu_s: number; floor_s: number } {
  let cpu = 0;
  for (const [name, u] of Object.entries(byProcess)) if (name !== 'node') cpu += u.user + u.sys + u.children;
  return { runtime_cpu_s: Math.round(cpu * 100) / 100, floor_s: Math.round((cpu / cpus().length + MONITOR_S) * 100) / 100 };
}

async function shoalRun(): Promise<{ ms: number; floor_s: number }> {
  log('shoal: starting containerd + one shoald (manager + worker, CRI)');
  const node = await startShoal('bench-update');
  const api = node.api;
  const id = (await api.createService({ spec: shoalSpec('upd', TASKS) })).service!.id;
  await waitFor(`shoal upd: ${TASKS} tasks RUNNING before the update`, async () => {
    const tasks = await shoalTasks(api, id);
    return observed(runningOf(tasks) === TASKS, stateCounts(tasks));
  }, STEP_MS, { intervalMs: 250 });
  log(`shoal: ${TASKS} RUNNING; updating (env ${NEW_ENV})`);
  const svc = (await api.getService({ serviceId: id })).service!;
  const spec = shoalSpec('upd', TASKS, [NEW_ENV]);
  const cpu0 = node.cpu();
  const by0 = node.cpuByProcess();
  const t0 = now();
  await api.updateService({ serviceId: id, serviceVersion: svc.meta!.version, spec });
  let polls = 0;
  await waitFor(`shoal upd: update COMPLETED and ${TASKS} tasks of the new spec RUNNING`, async () => {
    const st = (await api.getService({ serviceId: id })).service?.updateStatus;
    if (st?.state === UpdateState.PAUSED) throw new Error(`update paused: ${st.message}`);
    const done = st?.state === UpdateState.COMPLETED;
    // the task list (200 tasks) only once the update says COMPLETED, and every 2 s for the progress
    // report: listing it at every 100 ms poll took about a tenth of shoald's busy time in the update
    if (!done && polls++ % 20 !== 0) return observed(false, { update: UpdateState[st?.state ?? 0], message: st?.message });
    const tasks = await shoalTasks(api, id);
    const fresh = runningOf(tasks, (t) => t.spec?.container?.env.includes(NEW_ENV) ?? false);
    return observed(done && fresh === TASKS, { update: UpdateState[st?.state ?? 0], message: st?.message, newRunning: fresh, states: stateCounts(tasks) });
  }, STEP_MS, { intervalMs: 100 });
  const ms = now() - t0;
  const cpu = Math.round((node.cpu() - cpu0) * 100) / 100;
  const slots = slotTimes(await shoalTasks(api, id), NEW_ENV);
  const byProcess = cpuDiff(by0, node.cpuByProcess());
  const floor = runtimeFloor(byProcess);
  console.log(JSON.stringify({ bench: 'update.run', system: 'shoal', tasks: TASKS, s: seconds(ms), cpu_s: cpu, cpu_by_process_s: byProcess, ...floor, slots }));
  log(`shoal: update of ${TASKS} took ${seconds(ms)} s (${cpu} CPU-s in shoald + containerd + shims); removing`);
  await shoalRemove(node, id, STEP_MS);
  return { ms, floor_s: floor.floor_s };
}

const ts = (iso: string | undefined): number | undefined => (iso ? Date.parse(iso) : undefined);

function quantiles(xs: number[]): { median: number; p90: number; max: number } | null {
  if (xs.length === 0) return null;
  const v = [...xs].sort((a, b) => a - b);
  const q = (p: number) => seconds(v[Math.min(v.length - 1, Math.floor(p * v.length))]!);
  return { median: q(0.5), p90: q(0.9), max: seconds(v[v.length - 1]!) };
}

/**
 * Where a slot's time went, from the store after the update (status timestamps are the agent's,
 * creation times the manager's: one machine, one clock). Per slot: from the new task's creation
 * (by the updater; staged tasks are created a batch ahead) to its RUNNING, and from the old task's
 * SHUTDOWN to the new one's RUNNING (the stop-first hand-over inside the slot); between slots:
 * from the RUNNING of one new task to the SHUTDOWN of the old task of the slot that waited for it
 * (the i-th SHUTDOWN after the first batch waits for the (i - parallelism)-th RUNNING).
 */
function slotTimes(tasks: Task[], env: string) {
  const fresh = tasks.filter((t) => t.spec?.container?.env.includes(env) && t.status?.state === TaskState.RUNNING);
  const slot: number[] = [];
  const inSlot: number[] = [];
  const down: number[] = [];
  for (const t of fresh) {
    const created = ts(t.meta?.createdAt);
    const running = ts(t.status?.timestamp);
    if (created === undefined || running === undefined) continue;
    slot.push(running - created);
    const old = tasks.find((o) => o.slot === t.slot && o.id !== t.id && !o.spec?.container?.env.includes(env));
    const stopped = ts(old?.status?.timestamp);
    if (old?.status?.state === TaskState.SHUTDOWN && stopped !== undefined) {
      inSlot.push(running - stopped);
      down.push(stopped);
    }
  }
  const running = fresh.map((t) => ts(t.status?.timestamp)!).sort((a, b) => a - b);
  down.sort((a, b) => a - b);
  const handover: number[] = [];
  for (let i = 10; i < down.length; i++) handover.push(down[i]! - running[i - 10]!);
  return { create_to_running_s: quantiles(slot), old_shutdown_to_running_s: quantiles(inSlot), running_to_next_old_shutdown_s: quantiles(handover) };
}

async function swarmRun(): Promise<number> {
  log('swarm: starting a private dockerd + docker swarm init');
  const sw = await startSwarm();
  const { ID: id } = await sw.call<{ ID: string }>('POST', '/services/create', swarmSpec('upd', TASKS));
  await waitFor(`swarm upd: ${TASKS} tasks running before the update`, async () => {
    const tasks = await swarmTasks(sw, id);
    return observed(swarmRunning(tasks) === TASKS, swarmStates(tasks));
  }, STEP_MS, { intervalMs: 250 });
  log(`swarm: ${TASKS} running; updating (env ${NEW_ENV})`);
  const svc = await sw.call<{ Version: { Index: number } }>('GET', `/services/${id}`);
  const cpu0 = sw.cpu();
  const by0 = sw.cpuByProcess();
  const t0 = now();
  await sw.call('POST', `/services/${id}/update?version=${svc.Version.Index}`, swarmSpec('upd', TASKS, [NEW_ENV]));
  let polls = 0;
  await waitFor(`swarm upd: UpdateStatus completed and ${TASKS} tasks of the new spec running`, async () => {
    const st = (await sw.call<{ UpdateStatus?: { State: string; Message?: string } }>('GET', `/services/${id}`)).UpdateStatus;
    if (st?.State === 'paused') throw new Error(`swarm update paused: ${st.Message}`);
    const done = st?.State === 'completed';
    // as for Shoal: the task list only once completed, and every 2 s for the progress report
    if (!done && polls++ % 20 !== 0) return observed(false, { update: st?.State, message: st?.Message });
    const tasks = await swarmTasks(sw, id);
    const fresh = swarmRunning(tasks, (t) => t.Spec.ContainerSpec.Env?.includes(NEW_ENV) ?? false);
    return observed(done && fresh === TASKS, { update: st?.State, message: st?.Message, newRunning: fresh, states: swarmStates(tasks) });
  }, STEP_MS, { intervalMs: 100 });
  const ms = now() - t0;
  const cpu = Math.round((sw.cpu() - cpu0) * 100) / 100;
  console.log(JSON.stringify({ bench: 'update.run', system: 'swarm', tasks: TASKS, s: seconds(ms), cpu_s: cpu, cpu_by_process_s: cpuDiff(by0, sw.cpuByProcess()) }));
  log(`swarm: update of ${TASKS} took ${seconds(ms)} s (${cpu} CPU-s in dockerd + containerd + shims); removing`);
  await swarmRemove(sw, id, STEP_MS);
  return ms;
}

await benchMain('update', 45 * 60_000, async () => {
  const load0 = loadavg()[0]!;
  const shoal = flag('no-shoal') ? undefined : await shoalRun();
  const swarm = !flag('no-docker') && (await ensureDocker()) ? await swarmRun() : undefined;
  const ratio = shoal && swarm ? Math.round((swarm / shoal.ms) * 100) / 100 : null;
  log(`update of ${TASKS}: shoal ${shoal === undefined ? '-' : seconds(shoal.ms)} s (runtime CPU floor ${shoal?.floor_s ?? '-'} s), swarm ${swarm === undefined ? '-' : seconds(swarm)} s, swarm/shoal ${ratio ?? '-'}`);
  console.log(
    JSON.stringify({
      bench: 'update',
      tasks: TASKS,
      settings: { parallelism: 10, delay_s: 0, monitor_s: 1, order: 'stop-first', failure_action: 'pause' },
      shoal_s: shoal === undefined ? null : seconds(shoal.ms),
      shoal_floor_s: shoal?.floor_s ?? null,
      swarm_s: swarm === undefined ? null : seconds(swarm),
      ratio,
      load_avg_1m: [Math.round(load0 * 100) / 100, Math.round(loadavg()[0]! * 100) / 100],
      machine: machine(),
    }),
  );
});
