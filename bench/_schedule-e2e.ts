// Part (b) of the scheduling benchmark: end to end at scale. A cluster of `managers` shoald
// processes on loopback, `nodes` hollow worker nodes hosted by a few hollow-farm processes (each
// node a real Agent with its own session), then `services` × `replicas` created through the
// Control API; measured from the first create to all tasks RUNNING as the leader sees them
// (its shoal_tasks{state="running"} gauge), plus the leader's peak RSS. Bounded by `timeoutS`:
// on timeout the result says how far it got.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { FarmProcess, metricValue, observed, replicatedSpec, startCluster, type Cluster, type NodeProcess } from '../packages/testkit/src/index.js';

export interface E2EOptions {
  managers: number;
  nodes: number;
  services: number;
  replicas: number;
  /** nodes per farm process */
  perFarm: number;
  timeoutS: number;
  heartbeat: string;
  /** write V8 CPU profiles of every manager into this dir (stopped cleanly at the end) */
  profDir?: string;
  progress?: (o: object) => void;
}

export interface E2EResult {
  tasks: number;
  nodes: number;
  services: number;
  replicas: number;
  /** null when not every task reached RUNNING before the deadline */
  seconds: number | null;
  running: number;
  create_seconds: number;
  first_running_seconds: number | null;
  bring_up_seconds: number;
  /** leader peak RSS (VmHWM) in MiB, and the peak of the VmRSS samples taken during the deploy */
  rssMb: number | null;
  rss_samples_peak_mb: number | null;
  /** peak RSS (VmHWM, MiB) of every manager */
  managers_rss_mb: Record<string, number>;
  /** CPU seconds (user + system) each manager and the farms used from the first create to the end */
  managers_cpu_s: Record<string, number>;
  farms_cpu_s: number | null;
  /** leader CPU seconds per 10,000 tasks RUNNING (compare runs on a loaded machine by this) */
  leader_cpu_s_per_10k: number | null;
  leader: string;
  /** messages per task RUNNING, from the leader's counters over the measured part (null if leadership moved) */
  per_task: Record<string, number> | null;
  /** the longest event-loop stall of the leader seen between two polls (a stall past the heartbeat TTL costs every node its session) */
  leader_loop_delay_max_s: number | null;
  /** the leader's store commits (propose to applied) and scheduling passes over the measured part */
  leader_latency: Record<string, number> | null;
  /** raft terms seen during the deploy (1 = no leader change) */
  terms: number[];
  error?: string;
}

/** user + system CPU seconds of a process so far (from /proc/PID/stat; clock ticks of 1/100 s) */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

function procStatus(pid: number | undefined): { rssKb: number; hwmKb: number } | undefined {
  if (!pid) return undefined;
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** The running-task gauge of whichever manager is the raft leader now (leadership may move). */
async function leaderRunning(cluster: Cluster): Promise<{ running: number; leader: NodeProcess; term: number; loopDelayMaxS: number } | undefined> {
  for (const m of cluster.managers()) {
    try {
      const samples = await cluster.metrics(m);
      if (metricValue(samples, 'shoal_raft_leader') !== 1) continue;
      const running = metricValue(samples, 'shoal_tasks', { state: 'running' });
      if (running === undefined) continue;
      return { running, leader: m, term: metricValue(samples, 'shoal_raft_term') ?? 0, loopDelayMaxS: metricValue(samples, 'shoal_event_loop_delay_max_seconds') ?? 0 };
    } catch {
      // busy or down: ask the next one
    }
  }
  return undefined;
}

/** The leader's message counters: status calls and items in, assignment messages out, store entries and bytes proposed. */
async function messageCounters(cluster: Cluster, m: NodeProcess): Promise<Record<string, number> | undefined> {
  try {
    const samples = await cluster.metrics(m);
    const names: Record<string, string> = {
      status_requests: 'shoal_dispatcher_status_requests_total',
      status_updates: 'shoal_dispatcher_status_updates_total',
      status_batches: 'shoal_dispatcher_status_batches_total',
      assignment_messages: 'shoal_dispatcher_assignment_messages_total',
      assignment_changes: 'shoal_dispatcher_assignment_changes_total',
      raft_entries: 'shoal_store_proposed_entries_total',
      raft_bytes: 'shoal_store_proposed_bytes_total',
      commit_latency_sum: 'shoal_raft_commit_latency_seconds_sum',
      commit_latency_count: 'shoal_raft_commit_latency_seconds_count',
      scheduler_pass_sum: 'shoal_scheduler_latency_seconds_sum',
      scheduler_pass_count: 'shoal_scheduler_latency_seconds_count',
    };
    return Object.fromEntries(Object.entries(names).map(([k, n]) => [k, metricValue(samples, n) ?? NaN]));
  } catch {
    return undefined;
  }
}

async function inParallel<T>(items: T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

export async function benchE2E(o: E2EOptions): Promise<E2EResult> {
  const total = o.services * o.replicas;
  const deadline = performance.now() + o.timeoutS * 1000;
  const progress = o.progress ?? (() => {});
  const result: E2EResult = {
    tasks: total, nodes: o.nodes, services: o.services, replicas: o.replicas, seconds: null, running: 0,
    create_seconds: NaN, first_running_seconds: null, bring_up_seconds: NaN, rssMb: null, rss_samples_peak_mb: null, managers_rss_mb: {}, managers_cpu_s: {}, farms_cpu_s: null, leader_cpu_s_per_10k: null, leader: '', per_task: null, leader_loop_delay_max_s: null, leader_latency: null, terms: [],
  };
  if (o.profDir) {
    // NODE_OPTIONS refuses --cpu-prof: a preloaded module profiles each manager instead
    process.env['NODE_OPTIONS'] = `${process.env['NODE_OPTIONS'] ?? ''} --import=${new URL('./_cpu-prof.mjs', import.meta.url).href}`.trim();
    process.env['SHOAL_CPU_PROF_DIR'] = o.profDir;
  }
  const tUp = performance.now();
  const cluster = await startCluster({ managers: o.managers, workers: 0, runtime: 'hollow', heartbeatPeriod: o.heartbeat, startTimeoutMs: o.timeoutS * 1000 });
  const farms: FarmProcess[] = [];
  try {
    const leader = await cluster.leader();
    result.leader = leader.name;
    const tokens = await cluster.joinTokens();
    const addrs = [leader.listenAddr, ...cluster.liveManagerAddrs().filter((a) => a !== leader.listenAddr)];
    for (let left = o.nodes, f = 0; left > 0; f++) {
      const count = Math.min(o.perFarm, left);
      left -= count;
      farms.push(new FarmProcess({ managers: addrs, joinToken: tokens.worker, count, prefix: `f${f}` }));
    }
    await Promise.all(farms.map((f) => f.waitUp()));
    if (o.profDir) delete process.env['NODE_OPTIONS'];
    const api = cluster.control(leader);
    await cluster.waitFor(`${o.nodes} hollow nodes READY`, async () => {
      const res = await api.listNodes({}, { timeoutMs: 20_000 });
      const ready = res.nodes.filter((n) => n.status?.state === 2 /* NODE_READY */).length;
      return observed(ready >= o.nodes + o.managers, { ready });
    }, Math.max(1_000, deadline - performance.now()));
    result.bring_up_seconds = Number(((performance.now() - tUp) / 1000).toFixed(2));
    progress({ phase: 'up', bring_up_seconds: result.bring_up_seconds, farms: farms.length, leader_pid: leader.pid, farm_pids: farms.map((f) => f.pid), leader_rss_mb: (procStatus(leader.pid)?.rssKb ?? NaN) / 1024 });

    // ---- measured part: first create → all RUNNING
    const counters0 = await messageCounters(cluster, leader);
    const t0 = performance.now();
    const cpu0 = new Map(cluster.managers().map((m) => [m.name, cpuSeconds(m.pid) ?? NaN]));
    const farmCpu = (): number => farms.reduce((a, f) => a + (cpuSeconds(f.pid) ?? NaN), 0);
    const farmCpu0 = farmCpu();
    let peakRssKb = 0;
    let current = leader;
    const sample = (): void => {
      const s = procStatus(current.pid);
      if (s && s.rssKb > peakRssKb) peakRssKb = s.rssKb;
    };
    const sampler = setInterval(sample, 250);
    let created = 0;
    const creating = inParallel(Array.from({ length: o.services }, (_, i) => i), 25, async (i) => {
      await api.createService({ spec: replicatedSpec(`bench-${i}`, o.replicas) }, { timeoutMs: 60_000 });
      created++;
    }).then(() => {
      result.create_seconds = Number(((performance.now() - t0) / 1000).toFixed(2));
    });
    creating.catch(() => undefined);
    let lastLog = 0;
    try {
      for (;;) {
        const seen = await leaderRunning(cluster);
        const t = performance.now();
        if (seen !== undefined) {
          const running = seen.running;
          current = seen.leader;
          result.leader = seen.leader.name;
          if (!result.terms.includes(seen.term)) result.terms.push(seen.term);
          result.running = running;
          if (seen.loopDelayMaxS > (result.leader_loop_delay_max_s ?? 0)) result.leader_loop_delay_max_s = Number(seen.loopDelayMaxS.toFixed(3));
          if (running > 0 && result.first_running_seconds === null) result.first_running_seconds = Number(((t - t0) / 1000).toFixed(2));
          if (running >= total && created === o.services) {
            result.seconds = Number(((t - t0) / 1000).toFixed(2));
            break;
          }
        }
        if (t - lastLog > 5_000) {
          lastLog = t;
          progress({ phase: 'deploy', t: Number(((t - t0) / 1000).toFixed(1)), created, running: result.running, loop_delay_max_s: result.leader_loop_delay_max_s, leader: current.name, terms: result.terms, leader_rss_mb: Math.round((procStatus(current.pid)?.rssKb ?? NaN) / 1024) });
        }
        if (t > deadline) throw new Error(`gave up after ${o.timeoutS} s: ${result.running}/${total} tasks RUNNING, ${created}/${o.services} services created`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await creating;
      const counters1 = await messageCounters(cluster, current);
      if (current === leader && counters0 && counters1 && result.running > 0) {
        const d = (k: string): number => (counters1[k] ?? NaN) - (counters0[k] ?? 0);
        result.per_task = Object.fromEntries(Object.keys(counters1).filter((k) => !/_(sum|count)$/.test(k)).map((k) => [k, Number((d(k) / result.running).toFixed(3))]));
        result.leader_latency = {
          commits: d('commit_latency_count'),
          commit_avg_ms: Number(((d('commit_latency_sum') * 1000) / d('commit_latency_count')).toFixed(1)),
          scheduler_passes: d('scheduler_pass_count'),
          scheduler_pass_avg_ms: Number(((d('scheduler_pass_sum') * 1000) / d('scheduler_pass_count')).toFixed(1)),
        };
      }
    } finally {
      clearInterval(sampler);
      sample();
      for (const m of cluster.managers()) {
        const c = cpuSeconds(m.pid);
        if (c !== undefined) result.managers_cpu_s[m.name] = Number((c - (cpu0.get(m.name) ?? NaN)).toFixed(1));
      }
      result.farms_cpu_s = Number((farmCpu() - farmCpu0).toFixed(1));
      const leaderCpu = result.managers_cpu_s[current.name];
      if (leaderCpu !== undefined && result.running > 0) result.leader_cpu_s_per_10k = Number(((leaderCpu * 10_000) / result.running).toFixed(2));
      // the leader's peak; if leadership moved, the highest peak of any manager (conservative)
      for (const m of cluster.managers()) {
        const st = procStatus(m.pid);
        if (st) result.managers_rss_mb[m.name] = Math.round(st.hwmKb / 1024);
      }
      const peaks = result.terms.length > 1 ? Object.values(result.managers_rss_mb) : [result.managers_rss_mb[current.name] ?? NaN];
      result.rssMb = peaks.length ? Math.max(...peaks) : null;
      result.rss_samples_peak_mb = peakRssKb ? Math.round(peakRssKb / 1024) : null;
    }
  } catch (err) {
    result.error = (err as Error).message;
    progress({ phase: 'error', error: result.error, farms: farms.map((f) => ({ latest: f.latest, error: f.error, tail: f.tailText(5) })), managers: cluster.failureReport(10) });
  } finally {
    await Promise.all(farms.map((f) => f.stop()));
    await cluster.stop();
  }
  return result;
}
