// Store benchmark (packages/store) with the LocalProposer: every transaction is encoded into one
// entry, "committed" and applied (decode, version checks, indexes, freeze, events).
//  - tx1:   1-task transactions (read-modify-write of a task's status, as the dispatcher does),
//           on a store holding `--tasks` tasks; also 1-task creates
//  - tx100: 100-task transactions (scheduler-style: assign node + state), and 100-task creates
//  - watch: the same 100-task updates with `--watchers` watchers consuming in batches;
//           events delivered per second summed over all watchers
//  - reads: a full view scan of all tasks, tasks of one service, per-read cost
//  - copy policy: deep-freeze once per write vs structuredClone / protobuf round trip per read
//  - snapshot and restore of the whole store
// Prints one JSON object per measurement, then a summary JSON object as the LAST line.
//
//   npm run bench -- store [--tasks 100000] [--seconds 1.5] [--watchers 100] [--runs 3]
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Task, TaskState } from '@shoal/api';
import { Store } from '../packages/store/src/index.js';
import { deepFreeze } from '../packages/store/src/freeze.js';
import { machine, percentile } from './_machine.js';

interface Options {
  tasks: number;
  seconds: number;
  watchers: number;
  runs: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { tasks: 100_000, seconds: 1, watchers: 100, runs: 3 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]?.replace(/^--/, '');
    const v = Number(argv[i + 1]);
    if (k && k in o && Number.isFinite(v)) {
      (o as unknown as Record<string, number>)[k] = v;
      i++;
    }
  }
  return o;
}

const SERVICES = 100;

function makeTask(i: number): Task {
  const svc = `svc${String(i % SERVICES).padStart(4, '0')}`;
  return Task.fromJSON({
    id: `task${String(i).padStart(8, '0')}`,
    serviceId: svc,
    slot: Math.floor(i / SERVICES) + 1,
    desiredState: TaskState.RUNNING,
    annotations: { name: `web.${i}` },
    serviceAnnotations: { name: 'web', labels: { tier: 'front', team: 'core' } },
    spec: {
      container: {
        image: 'registry.example.com/web:1.27.3',
        command: ['/bin/web', '--port', '8080'],
        env: ['MODE=production', 'LOG_LEVEL=info', 'REGION=eu-west-1'],
        labels: { 'com.example.app': 'web' },
        stopGracePeriod: { seconds: 10, nanos: 0 },
      },
      resources: { reservations: { nanoCpus: 250_000_000, memoryBytes: 134_217_728 } },
      restart: { condition: 1, maxAttempts: 3 },
      placement: { constraints: ['node.role==worker'] },
      networks: [{ target: 'net1', aliases: ['web'] }],
    },
    specVersion: { index: 7 },
    status: { state: TaskState.PENDING, message: 'pending task scheduling', timestamp: '2024-01-01T00:00:00.000Z' },
  });
}

let clockMs = Date.UTC(2024, 0, 1);
const clock = () => (clockMs += 1);

function emit(o: Record<string, unknown>): void {
  console.log(JSON.stringify({ bench: 'store', ...o, machine: machine() }));
}

/** CPU seconds of this process since `from` (the machine is shared: wall time includes waiting). */
function cpuSince(from: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(from);
  return (c.user + c.system) / 1e6;
}

const cpuRates: Record<string, number[]> = {};

/** Runs body repeatedly for about `seconds`; returns operations per wall second (and records per CPU second under key). */
async function rate(key: string, seconds: number, body: () => Promise<number>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let ops = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() < end) ops += await body();
  (cpuRates[key] ??= []).push(ops / cpuSince(c0));
  return ops / ((performance.now() - t0) / 1000);
}

async function preload(n: number): Promise<Store> {
  const store = new Store({ clock });
  for (let i = 0; i < n; i += 1000) {
    await store.update((tx) => {
      for (let j = i; j < Math.min(n, i + 1000); j++) tx.tasks.create(makeTask(j));
    });
  }
  return store;
}

function median(xs: number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const tStart = performance.now();

  const t0 = performance.now();
  const pc0 = process.cpuUsage();
  const store = await preload(o.tasks);
  const preloadS = (performance.now() - t0) / 1000;
  const preloadCpu = cpuSince(pc0);
  emit({ what: 'preload_creates', tasks: o.tasks, tx_size: 1000, seconds: preloadS, cpu_seconds: preloadCpu, tasks_per_sec: o.tasks / preloadS, tasks_per_cpu_sec: o.tasks / preloadCpu });

  const ids = store.view((v) => v.tasks.all().map((x) => x.id));
  let cursor = 0;
  const nextId = () => ids[cursor++ % ids.length]!;
  let seq = 0;

  // ---- tx1: one task status update per transaction
  const tx1: number[] = [];
  for (let r = 0; r < o.runs; r++) {
    tx1.push(
      await rate('tx1', o.seconds, async () => {
        await store.update((tx) => {
          const x = tx.tasks.get(nextId())!;
          tx.tasks.update({ ...x, status: { ...x.status!, state: TaskState.RUNNING, message: `started ${++seq}` } });
        });
        return 1;
      }),
    );
  }
  emit({ what: 'tx1_update', tasks_in_store: o.tasks, runs: o.runs, seconds_per_run: o.seconds, tx_per_sec_p50: median(tx1), tx_per_sec_all: tx1, tx_per_cpu_sec_p50: median(cpuRates.tx1!) });

  // ---- tx1: one task create per transaction
  const tx1c: number[] = [];
  let extra = o.tasks;
  const created: string[] = [];
  for (let r = 0; r < 1; r++) {
    tx1c.push(
      await rate('tx1c', o.seconds / 2, async () => {
        const t = makeTask(extra++);
        await store.update((tx) => tx.tasks.create(t));
        created.push(t.id);
        return 1;
      }),
    );
  }
  emit({ what: 'tx1_create', runs: 1, tx_per_sec_p50: median(tx1c), tx_per_cpu_sec_p50: median(cpuRates.tx1c!) });

  // ---- tx100: 100 task updates per transaction (scheduler assigning tasks)
  const tx100: number[] = [];
  for (let r = 0; r < o.runs; r++) {
    tx100.push(
      await rate('tx100', o.seconds, async () => {
        const node = `node${++seq % 1000}`;
        await store.update((tx) => {
          for (let k = 0; k < 100; k++) {
            const x = tx.tasks.get(nextId())!;
            tx.tasks.update({ ...x, nodeId: node, status: { ...x.status!, state: TaskState.ASSIGNED, message: 'assigned' } });
          }
        });
        return 1;
      }),
    );
  }
  emit({ what: 'tx100_update', tasks_in_store: o.tasks, runs: o.runs, tx_per_sec_p50: median(tx100), objects_per_sec_p50: median(tx100) * 100, tx_per_sec_all: tx100, tx_per_cpu_sec_p50: median(cpuRates.tx100!) });

  // ---- tx100: 100 task creates per transaction
  const tx100c: number[] = [];
  for (let r = 0; r < 1; r++) {
    tx100c.push(
      await rate('tx100c', o.seconds / 2, async () => {
        const batch: Task[] = [];
        for (let k = 0; k < 100; k++) batch.push(makeTask(extra++));
        await store.update((tx) => {
          for (const t of batch) tx.tasks.create(t);
        });
        return 1;
      }),
    );
  }
  emit({ what: 'tx100_create', runs: 1, tx_per_sec_p50: median(tx100c), objects_per_sec_p50: median(tx100c) * 100, tx_per_cpu_sec_p50: median(cpuRates.tx100c!) });

  // ---- watch fan-out: 100-task update transactions with N watchers consuming in batches
  const watchRates: number[] = [];
  for (let r = 0; r < o.runs; r++) {
    const watchers = Array.from({ length: o.watchers }, () => store.watch({ kinds: ['task'] }));
    let delivered = 0;
    let stopAt = Infinity;
    const consumers = watchers.map(async (w) => {
      for await (const batch of w.batches()) {
        delivered += batch.length;
        const last = batch[batch.length - 1]!;
        if (last.action === 'commit' && last.index >= stopAt) break;
      }
    });
    const w0 = performance.now();
    const wc0 = process.cpuUsage();
    const end = w0 + o.seconds * 1000;
    let txs = 0;
    while (performance.now() < end) {
      await store.update((tx) => {
        for (let k = 0; k < 100; k++) {
          const x = tx.tasks.get(nextId())!;
          tx.tasks.update({ ...x, desiredState: x.desiredState === TaskState.RUNNING ? TaskState.SHUTDOWN : TaskState.RUNNING });
        }
      });
      txs++;
      if (txs % 8 === 0) await new Promise((res) => setImmediate(res)); // let consumers run
    }
    stopAt = store.index;
    await store.update((tx) => {
      const x = tx.tasks.get(nextId())!;
      tx.tasks.update({ ...x });
    });
    await Promise.all(consumers);
    const secs = (performance.now() - w0) / 1000;
    const cpu = cpuSince(wc0);
    watchRates.push(delivered / secs);
    (cpuRates.watch ??= []).push(delivered / cpu);
    emit({ what: 'watch_fanout', watchers: o.watchers, tx_size: 100, txs, events_delivered: delivered, seconds: secs, cpu_seconds: cpu, events_per_sec: delivered / secs, events_per_cpu_sec: delivered / cpu, tx_per_sec: txs / secs });
  }

  // ---- reads
  const v = store.snapshotView();
  const scans: number[] = [];
  const scanCpu: number[] = [];
  for (let r = 0; r < 5; r++) {
    const s0 = performance.now();
    const sc = process.cpuUsage();
    let n = 0;
    v.tasks.forEach((x) => {
      if (x.desiredState === TaskState.RUNNING) n++;
    });
    scans.push(performance.now() - s0);
    scanCpu.push(cpuSince(sc) * 1000);
  }
  const a0 = performance.now();
  const all = v.tasks.all();
  const allMs = performance.now() - a0;
  const b0 = performance.now();
  let byService = 0;
  for (let s = 0; s < SERVICES; s++) byService += v.tasks.byService(`svc${String(s).padStart(4, '0')}`).length;
  const byServiceMs = performance.now() - b0;
  const g0 = performance.now();
  for (let k = 0; k < 100_000; k++) v.tasks.get(ids[k % ids.length]!);
  const getNs = ((performance.now() - g0) * 1e6) / 100_000;
  emit({ what: 'reads', tasks: all.length, scan_all_ms_p50: median(scans), scan_all_cpu_ms_p50: median(scanCpu), all_array_ms: allMs, by_service_all_services_ms: byServiceMs, by_service_tasks: byService, get_ns: getNs });

  // ---- copy policy: freeze once on write vs copy on every read
  const sample = all.slice(0, 5_000).map((x) => Task.decode(Task.encode(x).finish()));
  const f0 = performance.now();
  for (const x of sample) deepFreeze(x);
  const freezeUs = ((performance.now() - f0) * 1000) / sample.length;
  const c0 = performance.now();
  for (const x of sample) structuredClone(x);
  const cloneUs = ((performance.now() - c0) * 1000) / sample.length;
  const p0 = performance.now();
  for (const x of sample) Task.decode(Task.encode(x).finish());
  const protoUs = ((performance.now() - p0) * 1000) / sample.length;
  emit({
    what: 'copy_policy',
    chosen: 'deep-freeze at apply, share on read',
    freeze_us_per_task_once: freezeUs,
    structured_clone_us_per_task_per_read: cloneUs,
    proto_roundtrip_us_per_task_per_read: protoUs,
    full_scan_copy_ms_if_cloning: (cloneUs * all.length) / 1000,
  });

  // ---- snapshot / restore
  const sn0 = performance.now();
  const sc0 = process.cpuUsage();
  const snap = store.snapshot();
  const snapMs = performance.now() - sn0;
  const snapCpuMs = cpuSince(sc0) * 1000;
  const rs0 = performance.now();
  const rc0 = process.cpuUsage();
  const restored = Store.restore(snap);
  const restoreMs = performance.now() - rs0;
  const restoreCpuMs = cpuSince(rc0) * 1000;
  emit({
    what: 'snapshot',
    objects: restored.snapshotView().tasks.count(),
    bytes: snap.length,
    snapshot_ms: snapMs,
    snapshot_cpu_ms: snapCpuMs,
    restore_ms: restoreMs,
    restore_cpu_ms: restoreCpuMs,
    rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
  });

  console.log(
    JSON.stringify({
      bench: 'store',
      tx1_per_sec: Math.round(median(tx1)),
      tx100_per_sec: Math.round(median(tx100)),
      watch100_events_per_sec: Math.round(median(watchRates)),
      tx1_per_cpu_sec: Math.round(median(cpuRates.tx1!)),
      tx100_per_cpu_sec: Math.round(median(cpuRates.tx100!)),
      watch100_events_per_cpu_sec: Math.round(median(cpuRates.watch!)),
      tx1_create_per_sec: Math.round(median(tx1c)),
      tx100_create_per_sec: Math.round(median(tx100c)),
      tasks_in_store: o.tasks,
      watchers: o.watchers,
      scan_100k_tasks_ms: Number(median(scans).toFixed(2)),
      snapshot_ms: Math.round(snapMs),
      restore_ms: Math.round(restoreMs),
      load_avg_1m: Number(os.loadavg()[0]!.toFixed(1)),
      total_seconds: Number(((performance.now() - tStart) / 1000).toFixed(1)),
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
