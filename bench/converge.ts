// converge: time from service create to N replicas RUNNING (as the Control API / Engine API
// reports them) with real containers, for N = 10, 50, 100, on a single-node Shoal cluster (one
// shoald = manager + worker, private containerd) and then on a single-node Docker Swarm (private
// dockerd) with the same busybox image and command. Between two N the service is removed and the
// bench waits until its containers are gone. Run as root:
//
//   npm run bench -- converge [--ns 10,50,100] [--no-docker] [--no-shoal]
//
// Progress on stderr, one JSON line per measurement on stdout, the summary as the LAST line:
//   {"bench":"converge","results":[{"n":10,"shoal_s":…,"swarm_s":…,"ratio":…},…],"machine":…}
import { loadavg } from 'node:os';
import { machine } from './_machine.js';
import {
  benchMain, cpuDiff, ensureDocker, flag, log, now, runningOf, seconds, shoalRemove, shoalSpec, shoalTasks, startShoal, startSwarm,
  stateCounts, swarmRemove, swarmRunning, swarmSpec, swarmStates, swarmTasks,
} from './_containers.js';
import { observed, waitFor } from '@shoal/testkit';

const nsArg = process.argv.indexOf('--ns');
const NS = (nsArg > 0 ? (process.argv[nsArg + 1] ?? '') : '10,50,100').split(',').map(Number);
if (NS.some((n) => !(n > 0 && Number.isInteger(n)))) throw new Error('--ns: comma-separated positive integers');
const PER_N_MS = 300_000;

async function shoalRuns(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  log('shoal: starting containerd + one shoald (manager + worker, CRI)');
  const node = await startShoal('bench-converge');
  for (const n of NS) {
    const name = `conv-${n}`;
    const cpu0 = node.cpu();
    const by0 = node.cpuByProcess();
    const t0 = now();
    const id = (await node.api.createService({ spec: shoalSpec(name, n) })).service!.id;
    await waitFor(`shoal ${name}: ${n} tasks RUNNING`, async () => {
      const tasks = await shoalTasks(node.api, id);
      return observed(runningOf(tasks) === n, stateCounts(tasks));
    }, PER_N_MS, { intervalMs: 50 });
    const ms = now() - t0;
    const cpu = Math.round((node.cpu() - cpu0) * 100) / 100;
    const cpuBy = cpuDiff(by0, node.cpuByProcess());
    out.set(n, ms);
    console.log(JSON.stringify({ bench: 'converge.run', system: 'shoal', n, s: seconds(ms), cpu_s: cpu, cpu_by_process_s: cpuBy }));
    log(`shoal n=${n}: ${seconds(ms)} s to RUNNING (${cpu} CPU-s in shoald + containerd + shims); removing`);
    const rm = await shoalRemove(node, id, PER_N_MS);
    log(`shoal n=${n}: containers gone ${seconds(rm)} s after remove`);
  }
  return out;
}

async function swarmRuns(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  log('swarm: starting a private dockerd + docker swarm init');
  const sw = await startSwarm();
  for (const n of NS) {
    const name = `conv-${n}`;
    const cpu0 = sw.cpu();
    const by0 = sw.cpuByProcess();
    const t0 = now();
    const { ID: id } = await sw.call<{ ID: string }>('POST', '/services/create', swarmSpec(name, n));
    await waitFor(`swarm ${name}: ${n} tasks running`, async () => {
      const tasks = await swarmTasks(sw, id);
      return observed(swarmRunning(tasks) === n, swarmStates(tasks));
    }, PER_N_MS, { intervalMs: 50 });
    const ms = now() - t0;
    const cpu = Math.round((sw.cpu() - cpu0) * 100) / 100;
    const cpuBy = cpuDiff(by0, sw.cpuByProcess());
    out.set(n, ms);
    console.log(JSON.stringify({ bench: 'converge.run', system: 'swarm', n, s: seconds(ms), cpu_s: cpu, cpu_by_process_s: cpuBy }));
    log(`swarm n=${n}: ${seconds(ms)} s to running (${cpu} CPU-s in dockerd + containerd + shims); removing`);
    const rm = await swarmRemove(sw, id, PER_N_MS);
    log(`swarm n=${n}: containers gone ${seconds(rm)} s after remove`);
  }
  return out;
}

await benchMain('converge', 45 * 60_000, async () => {
  const load0 = loadavg()[0]!;
  const shoal = flag('no-shoal') ? new Map<number, number>() : await shoalRuns();
  let swarm = new Map<number, number>();
  if (!flag('no-docker') && (await ensureDocker())) swarm = await swarmRuns();
  const results = NS.map((n) => {
    const s = shoal.get(n);
    const d = swarm.get(n);
    const r = { n, shoal_s: s === undefined ? null : seconds(s), swarm_s: d === undefined ? null : seconds(d), ratio: s && d ? Math.round((d / s) * 100) / 100 : null };
    log(`n=${n}: shoal ${r.shoal_s ?? '-'} s, swarm ${r.swarm_s ?? '-'} s, swarm/shoal ${r.ratio ?? '-'}`);
    return r;
  });
  console.log(JSON.stringify({ bench: 'converge', image: 'shoal-test/busybox:1', results, load_avg_1m: [Math.round(load0 * 100) / 100, Math.round(loadavg()[0]! * 100) / 100], machine: machine() }));
});
