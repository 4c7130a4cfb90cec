// Scheduling benchmark.
//  (a) benchSchedulerAlone(): the scheduler core in memory: 100,000 pending tasks of 100 services
//      onto 1,000 nodes (some services with constraints, some with placement preferences, some
//      with reservations), placements per second, median of a few runs.
//  (b) benchE2E() (bench/_schedule-e2e.ts): 3 shoald managers + `nodes` hollow worker nodes in
//      hollow-farm processes, `services` × `replicas` created through the Control API, seconds from
//      the first create to all RUNNING on the leader, and the leader's peak RSS.
// Prints one JSON line per run, then a summary JSON object as the LAST line.
//
//   npm run bench -- schedule [--runs 5] [--tasks 100000] [--nodes 1000] [--services 100]
//                             [--replicas 1000] [--e2e 1] [--per-farm 500] [--timeout 600]
//                             [--heartbeat 5s] [--prof DIR]
//   smaller: npm run bench -- schedule --runs 1 --nodes 100 --services 10 --replicas 100
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import {
  HealthState,
  NodeAvailability,
  NodeRole,
  NodeState,
  TaskState,
  type Node,
  type Task,
  type TaskSpec,
} from '@shoal/api';
import { SchedulerState } from '../packages/manager/src/scheduler/index.js';
import { machine, percentile } from './_machine.js';
import { benchE2E } from './_schedule-e2e.js';

interface Options {
  runs: number;
  tasks: number;
  nodes: number;
  services: number;
  replicas: number;
  e2e: number;
  'per-farm': number;
  timeout: number;
  managers: number;
}

interface StringOptions {
  heartbeat: string;
  prof: string;
}

function parseArgs(argv: string[]): Options & StringOptions {
  const o: Options = { runs: 5, tasks: 100_000, nodes: 1_000, services: 100, replicas: 1_000, e2e: 1, 'per-farm': 500, timeout: 600, managers: 3 };
  const so: StringOptions = { heartbeat: '5s', prof: '' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]?.replace(/^--/, '');
    const raw = argv[i + 1];
    if (k && k in so && raw !== undefined) {
      (so as unknown as Record<string, string>)[k] = raw;
      i++;
      continue;
    }
    const v = Number(raw);
    if (!k || !(k in o) || !Number.isFinite(v) || v < 0) throw new Error(`bad flag ${argv[i]} ${raw ?? ''}`);
    (o as unknown as Record<string, number>)[k] = v;
    i++;
  }
  return { ...o, ...so };
}

const GB = 1024 ** 3;

function makeNodes(n: number): Node[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `node-${String(i).padStart(5, '0')}`,
    meta: { version: 1 },
    spec: {
      annotations: { name: `node-${i}`, labels: { zone: `z${i % 5}`, rack: `r${i % 20}`, ...(i % 4 === 0 ? { ssd: 'true' } : {}) } },
      desiredRole: NodeRole.WORKER,
      availability: i % 97 === 0 ? NodeAvailability.DRAIN : NodeAvailability.ACTIVE,
    },
    description: {
      hostname: `host-${i}`,
      platform: { os: 'linux', architecture: i % 10 === 0 ? 'arm64' : 'amd64' },
      resources: { nanoCpus: 64e9, memoryBytes: 256 * GB, pids: 0 },
      engineVersion: '1.0',
      engineLabels: {},
    },
    status: { state: i % 101 === 0 ? NodeState.NODE_DOWN : NodeState.NODE_READY, message: '', addr: `10.0.${i >> 8}.${i & 255}` },
    managerStatus: undefined,
    role: NodeRole.WORKER,
    dataPathAddr: '',
  }));
}

/** Service s: every 5th has a constraint, every 3rd a zone (and sometimes rack) preference. */
function serviceSpec(s: number): TaskSpec {
  const constraints = s % 5 === 0 ? ['node.labels.ssd==true'] : s % 5 === 1 ? ['node.platform.arch!=arm64'] : [];
  const preferences = s % 3 === 0 ? [{ spreadDescriptor: 'node.labels.zone' }, ...(s % 6 === 0 ? [{ spreadDescriptor: 'node.labels.rack' }] : [])] : [];
  return {
    container: { image: `img${s}` } as TaskSpec['container'],
    resources: { limits: undefined, reservations: { nanoCpus: s % 2 ? 1e7 : 0, memoryBytes: s % 2 ? 16 * 1024 ** 2 : 0, pids: 0 } },
    restart: undefined,
    placement: { constraints, preferences, maxReplicas: s % 7 === 0 ? 10 : 0, platforms: [] },
    logDriver: undefined,
    networks: [],
    forceUpdate: 0,
  };
}

function makeTasks(total: number, services: number): Task[] {
  const out: Task[] = [];
  const per = Math.ceil(total / services);
  for (let s = 0; s < services && out.length < total; s++) {
    const spec = serviceSpec(s);
    for (let slot = 1; slot <= per && out.length < total; slot++) {
      out.push({
        id: `t-${s}-${slot}`,
        meta: { version: 1 },
        spec,
        specVersion: { index: 1 },
        serviceId: `svc-${s}`,
        slot,
        nodeId: '',
        annotations: undefined,
        serviceAnnotations: undefined,
        status: { state: TaskState.PENDING, message: '', err: '', health: HealthState.HEALTH_NONE, appliedBy: '' },
        desiredState: TaskState.RUNNING,
        networks: [],
        endpoint: undefined,
        logDriver: undefined,
        jobIteration: undefined,
        restartAttempt: 0,
      });
    }
  }
  return out;
}

export interface SchedulerRun {
  run: number;
  tasks: number;
  nodes: number;
  services: number;
  placed: number;
  unschedulable: number;
  seconds: number;
  placements_per_sec: number;
}

/** Part (a): the scheduler alone, in memory. Returns one record per run. */
export function benchSchedulerAlone(o: Options, onRun: (r: SchedulerRun) => void = () => {}): SchedulerRun[] {
  const nodes = makeNodes(o.nodes);
  const runs: SchedulerRun[] = [];
  for (let run = 0; run <= o.runs; run++) {
    const pending = makeTasks(o.tasks, o.services);
    const t0 = performance.now();
    const state = new SchedulerState();
    for (const n of nodes) state.upsertNode(n);
    const res = state.schedule(pending);
    const seconds = (performance.now() - t0) / 1000;
    const r: SchedulerRun = {
      run,
      tasks: o.tasks,
      nodes: o.nodes,
      services: o.services,
      placed: res.assignments.length,
      unschedulable: res.unschedulable.length,
      seconds: Number(seconds.toFixed(4)),
      placements_per_sec: Math.round(res.assignments.length / seconds),
    };
    if (run === 0) continue; // warm-up
    runs.push(r);
    onRun(r);
  }
  return runs;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const runs = benchSchedulerAlone(o, (r) => console.log(JSON.stringify({ bench: 'schedule', part: 'scheduler_alone', ...r })));
  const rates = runs.map((r) => r.placements_per_sec).sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      bench: 'schedule',
      params: o,
      scheduler_placements_per_sec_p50: percentile(rates, 50),
      scheduler_placements_per_sec_min: rates[0] ?? null,
      machine: machine(),
    }),
  );
  const e2e: { tasks: number; seconds: number | null; rssMb: number | null; error?: string } = { tasks: o.services * o.replicas, seconds: null, rssMb: null };
  if (o.e2e) {
    const r = await benchE2E({
      managers: o.managers,
      nodes: o.nodes,
      services: o.services,
      replicas: o.replicas,
      perFarm: o['per-farm'],
      timeoutS: o.timeout,
      heartbeat: o.heartbeat,
      ...(o.prof ? { profDir: o.prof } : {}),
      progress: (p) => console.log(JSON.stringify({ bench: 'schedule', part: 'e2e_progress', ...p })),
    });
    console.log(JSON.stringify({ bench: 'schedule', part: 'e2e', ...r, load: loadavg().map((x) => Number(x.toFixed(2))) }));
    Object.assign(e2e, { seconds: r.seconds, rssMb: r.rssMb, ...(r.error ? { error: r.error } : {}) });
  }
  console.log(
    JSON.stringify({
      bench: 'schedule',
      scheduler_placements_per_sec: percentile(rates, 50),
      e2e_tasks: e2e.tasks,
      e2e_seconds: e2e.seconds,
      manager_rss_mb: e2e.rssMb,
      ...(e2e.error ? { e2e_error: e2e.error } : {}),
    }),
  );
}

// run only when executed, so another bench (or part (b)) can import benchSchedulerAlone
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
