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
import { loadavg } from 'node:os';
import { UpdateState } from '@shoal/api';
import { observed, waitFor } from '@shoal/testkit';
import { machine } from './_machine.js';
import {
  benchMain, ensureDocker, flag, log, now, numArg, runningOf, seconds, shoalRemove, shoalSpec, shoalTasks, startShoal, startSwarm,
  stateCounts, swarmRemove, swarmRunning, swarmSpec, swarmStates, swarmTasks,
} from './_containers.js';

const TASKS = numArg('tasks', 100);
const NEW_ENV = 'SHOAL_BENCH_UPDATE=2';
const STEP_MS = 600_000;

async function shoalRun(): Promise<number> {
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
  const t0 = now();
  await api.updateService({ serviceId: id, serviceVersion: svc.meta!.version, spec });
  await waitFor(`shoal upd: update COMPLETED and ${TASKS} tasks of the new spec RUNNING`, async () => {
    const [s, tasks] = await Promise.all([api.getService({ serviceId: id }), shoalTasks(api, id)]);
    const st = s.service?.updateStatus;
    const fresh = runningOf(tasks, (t) => t.spec?.container?.env.includes(NEW_ENV) ?? false);
    if (st?.state === UpdateState.PAUSED) throw new Error(`update paused: ${st.message}`);
    return observed(st?.state === UpdateState.COMPLETED && fresh === TASKS, { update: UpdateState[st?.state ?? 0], message: st?.message, newRunning: fresh, states: stateCounts(tasks) });
  }, STEP_MS, { intervalMs: 100 });
  const ms = now() - t0;
  console.log(JSON.stringify({ bench: 'update.run', system: 'shoal', tasks: TASKS, s: seconds(ms) }));
  log(`shoal: update of ${TASKS} took ${seconds(ms)} s; removing`);
  await shoalRemove(node, id, STEP_MS);
  return ms;
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
  const t0 = now();
  await sw.call('POST', `/services/${id}/update?version=${svc.Version.Index}`, swarmSpec('upd', TASKS, [NEW_ENV]));
  await waitFor(`swarm upd: UpdateStatus completed and ${TASKS} tasks of the new spec running`, async () => {
    const [s, tasks] = await Promise.all([sw.call<{ UpdateStatus?: { State: string; Message?: string } }>('GET', `/services/${id}`), swarmTasks(sw, id)]);
    const st = s.UpdateStatus;
    const fresh = swarmRunning(tasks, (t) => t.Spec.ContainerSpec.Env?.includes(NEW_ENV) ?? false);
    if (st?.State === 'paused') throw new Error(`swarm update paused: ${st.Message}`);
    return observed(st?.State === 'completed' && fresh === TASKS, { update: st?.State, message: st?.Message, newRunning: fresh, states: swarmStates(tasks) });
  }, STEP_MS, { intervalMs: 100 });
  const ms = now() - t0;
  console.log(JSON.stringify({ bench: 'update.run', system: 'swarm', tasks: TASKS, s: seconds(ms) }));
  log(`swarm: update of ${TASKS} took ${seconds(ms)} s; removing`);
  await swarmRemove(sw, id, STEP_MS);
  return ms;
}

await benchMain('update', 45 * 60_000, async () => {
  const load0 = loadavg()[0]!;
  const shoal = flag('no-shoal') ? undefined : await shoalRun();
  const swarm = !flag('no-docker') && (await ensureDocker()) ? await swarmRun() : undefined;
  const ratio = shoal && swarm ? Math.round((swarm / shoal) * 100) / 100 : null;
  log(`update of ${TASKS}: shoal ${shoal === undefined ? '-' : seconds(shoal)} s, swarm ${swarm === undefined ? '-' : seconds(swarm)} s, swarm/shoal ${ratio ?? '-'}`);
  console.log(
    JSON.stringify({
      bench: 'update',
      tasks: TASKS,
      settings: { parallelism: 10, delay_s: 0, monitor_s: 1, order: 'stop-first', failure_action: 'pause' },
      shoal_s: shoal === undefined ? null : seconds(shoal),
      swarm_s: swarm === undefined ? null : seconds(swarm),
      ratio,
      load_avg_1m: [Math.round(load0 * 100) / 100, Math.round(loadavg()[0]! * 100) / 100],
      machine: machine(),
    }),
  );
});
