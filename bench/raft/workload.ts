// Workloads run against a Target: closed-loop writers (throughput and commit latency) and
// leader failover after SIGKILL.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { percentile } from '../_machine.js';
import { sleep, type Target } from './targets.js';

export interface LoadResult {
  clients: number;
  seconds: number;
  writes: number;
  errors: number;
  wps: number;
  p50_ms: number;
  p99_ms: number;
  /**
   * CPU time per measured write (ms) of each member process (leader first) and of the bench's
   * client side, over the measured window: what a write costs, whatever the machine's load
   */
  cpu_ms_per_write: { members: number[]; client: number };
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** user + system CPU seconds of a process so far (Linux /proc), or NaN */
function procCpu(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_S;
  } catch {
    return NaN;
  }
}

/** `clients` closed-loop writers of 256-byte values to the leader for `seconds` (after a warm-up) */
export async function runLoad(t: Target, clients: number, seconds: number, warmupSeconds = 1): Promise<LoadResult> {
  const leader = await t.leader();
  if (leader < 0) throw new Error(`${t.name}: no leader before the load run`);
  const value = randomBytes(256);
  const lat: number[] = [];
  let errors = 0;
  const start = performance.now();
  const measureFrom = start + warmupSeconds * 1000;
  const end = measureFrom + seconds * 1000;
  let writes = 0;
  const members = [leader, ...[0, 1, 2].filter((i) => i !== leader)];
  let cpu0: number[] = [];
  let client0 = 0;
  const cpuMark = setTimeout(() => {
    cpu0 = members.map((m) => procCpu(t.pid(m)));
    client0 = process.cpuUsage().user + process.cpuUsage().system;
  }, warmupSeconds * 1000);
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; ; i++) {
        const t0 = performance.now();
        if (t0 >= end) return;
        try {
          await t.put(leader, `c${c}-k${i % 1000}`, value, 5000);
          const t1 = performance.now();
          if (t0 >= measureFrom && t1 <= end) {
            lat.push(t1 - t0);
            writes++;
          }
        } catch {
          errors++;
          await sleep(10);
        }
      }
    }),
  );
  clearTimeout(cpuMark);
  const perWrite = (s: number): number => round((s * 1000) / Math.max(1, writes), 3);
  const cpu = members.map((m, i) => perWrite(procCpu(t.pid(m)) - (cpu0[i] ?? NaN)));
  const u = process.cpuUsage();
  const client = perWrite((u.user + u.system - client0) / 1e6);
  lat.sort((a, b) => a - b);
  return {
    clients,
    seconds,
    writes,
    errors,
    wps: round(writes / seconds),
    p50_ms: round(percentile(lat, 50), 2),
    p99_ms: round(percentile(lat, 99), 2),
    cpu_ms_per_write: { members: cpu, client },
  };
}

export interface FailoverResult {
  trials: number;
  samples_ms: number[];
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** SIGKILLs the leader `trials` times; measures kill -> first committed write under a new leader */
export async function runFailover(t: Target, trials: number, log: (o: object) => void): Promise<FailoverResult> {
  const samples: number[] = [];
  const value = randomBytes(256);
  for (let trial = 0; trial < trials; trial++) {
    await waitHealthy(t);
    const old = await t.leader();
    if (old < 0) throw new Error(`${t.name}: no leader before failover trial ${trial}`);
    await t.put(old, 'warm', value, 2000); // the cluster commits right before the kill
    const survivors = [0, 1, 2].filter((i) => i !== old);
    const t0 = performance.now();
    t.kill(old);
    let done = false;
    let elapsed = 0;
    // every survivor gets one outstanding write at a time; the first to commit ends the trial
    await Promise.race(
      survivors.map(async (m) => {
        for (let i = 0; !done; i++) {
          if (performance.now() - t0 > 15_000) throw new Error(`${t.name}: no write committed 15 s after killing the leader`);
          try {
            await t.put(m, `failover-${trial}-${m}-${i}`, value, 2000);
            if (!done) {
              done = true;
              elapsed = performance.now() - t0;
            }
            return;
          } catch {
            await sleep(5);
          }
        }
      }),
    );
    samples.push(round(elapsed, 1));
    log({ trial, killed: old + 1, failover_ms: round(elapsed, 1) });
    await t.restart(old);
  }
  const sorted = samples.slice().sort((a, b) => a - b);
  return { trials, samples_ms: samples, p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99), max_ms: sorted[sorted.length - 1] ?? NaN };
}

export async function waitHealthy(t: Target): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    const ok = await Promise.all([0, 1, 2].map((i) => t.healthy(i)));
    if (ok.every(Boolean) && (await t.leader()) >= 0) return;
    if (Date.now() > until) throw new Error(`${t.name}: cluster not healthy within 30 s (members: ${ok.join(',')})`);
    await sleep(50);
  }
}

export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
