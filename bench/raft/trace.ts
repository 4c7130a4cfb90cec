// Where the time of one write goes: runs a 3-member Shoal cluster (as bench/raft.ts does) with
// RAFT_TRACE on, --clients closed-loop clients (1) for --seconds after --warmup seconds of 64 clients, and
// joins the members' trace files (packages/raft/src/trace.ts) with the client's own timestamps by
// raft index. Prints one JSON line: the median and p90 of every hop of a write, in ms.
//   flock /tmp/shoal-bench.lock node --import tsx --conditions=shoal-src bench/raft/trace.ts [--seconds 8] [--warmup 5] [--clients 1]
import { RaftKVClient, createClient, grpc } from '@shoal/api';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from '../_machine.js';
import { ShoalTarget, killAll } from './targets.js';
import { round, runLoad, waitHealthy } from './workload.js';

function opt(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const seconds = opt('seconds', 8);
const warmup = opt('warmup', 5);
const clients = opt('clients', 1);
const now = (): number => performance.timeOrigin + performance.now();

process.on('exit', killAll);
const dir = mkdtempSync(join(tmpdir(), 'shoal-trace-'));
process.env.RAFT_TRACE = join(dir, 'trace');
const t = new ShoalTarget(join(dir, 'data'), 28101 + Math.floor(Math.random() * 400) * 4);
/** index -> [client send, client receive] */
const client = new Map<number, [number, number]>();
try {
  await t.start();
  await waitHealthy(t);
  if (warmup > 0) await runLoad(t, 64, warmup, 0);
  const leader = await t.leader();
  const c = createClient(RaftKVClient, t.addrs[leader] as string);
  const value = randomBytes(256);
  const end = now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, k) => {
      for (let i = 0; now() < end; i++) {
        const t0 = now();
        const index = await new Promise<number>((resolve, reject) =>
          c.put({ key: `c${k}-k${i % 1000}`, value }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, r) => (err ? reject(err) : resolve(r.index))),
        );
        client.set(index, [t0, now()]);
      }
    }),
  );
  c.close();
} finally {
  await t.stop();
}

// event -> index -> time, per process (files are named <prefix>.<pid>.tsv)
type Events = Map<string, Map<number, number>>;
const procs: Events[] = [];
for (const f of readdirSync(dir).filter((n) => n.startsWith('trace.'))) {
  const ev: Events = new Map();
  for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
    const [ms, name, idx] = line.split('\t');
    if (!name) continue;
    let m = ev.get(name);
    if (!m) ev.set(name, (m = new Map()));
    const i = Number(idx);
    if (!m.has(i)) m.set(i, Number(ms)); // the first time an index is seen
  }
  procs.push(ev);
}
rmSync(dir, { recursive: true, force: true });

const hops: Record<string, number[]> = {};
const add = (name: string, a: number | undefined, b: number | undefined): void => {
  if (a === undefined || b === undefined) return;
  (hops[name] ??= []).push(b - a);
};
/**
 * when `index` passed an event traced per batch (appends, acks, Readys cover ranges): the time of
 * the event at the smallest index at or after it, within 1,000 indexes
 */
const sortedKeys = new Map<Map<number, number>, number[]>();
const atOrAfter = (m: Map<number, number> | undefined, index: number): number | undefined => {
  if (!m) return undefined;
  const exact = m.get(index);
  if (exact !== undefined) return exact;
  let keys = sortedKeys.get(m);
  if (!keys) sortedKeys.set(m, (keys = [...m.keys()].sort((a, b) => a - b)));
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((keys[mid] as number) < index) lo = mid + 1;
    else hi = mid;
  }
  const k = keys[lo];
  return k !== undefined && k - index < 1000 ? m.get(k) : undefined;
};
let joined = 0;
for (const [index, [send, recv]] of client) {
  const L = procs.find((p) => p.get('propose')?.has(index));
  if (!L) continue;
  // the follower whose answer reached the leader first is the one that made the commit
  let first: { from: string; at: number } | undefined;
  for (const [name, m] of L) {
    if (!name.startsWith('r.resp<')) continue;
    const at = atOrAfter(m, index);
    if (at !== undefined && (!first || at < first.at)) first = { from: name.slice(7), at };
  }
  if (!first) continue;
  const F = procs.find((p) => p !== L && followerId(p) === first.from);
  if (!F) continue;
  joined++;
  const g = (p: Events, e: string): number | undefined => atOrAfter(p.get(e), index);
  const kRecv = L.get('k.recv')?.get(index);
  add('1 client send -> leader handler', send, kRecv);
  add('2 handler -> proposed', kRecv, g(L, 'propose'));
  add('3 proposed -> leader Ready', g(L, 'propose'), g(L, 'ready'));
  add('4 leader Ready -> append written', g(L, 'ready'), g(L, `w.app>${first.from}`));
  add('5 append written -> follower receives', g(L, `w.app>${first.from}`), g(F, 'r.app'));
  add('6 follower receives -> follower Ready', g(F, 'r.app'), g(F, 'ready'));
  add('7 follower Ready -> saved', g(F, 'ready'), g(F, 'saved'));
  add('8 follower saved -> AppendResp written', g(F, 'saved'), g(F, 'w.resp'));
  add('9 AppendResp written -> leader receives', g(F, 'w.resp'), first.at);
  add('10 leader receives -> commit Ready', first.at, g(L, 'commit'));
  add('11 commit Ready -> applied', g(L, 'commit'), g(L, 'applied'));
  add('12 applied -> reply written', g(L, 'applied'), L.get('k.reply')?.get(index));
  add('13 reply written -> client receives', L.get('k.reply')?.get(index), recv);
  add('leader Ready -> leader saved (parallel)', g(L, 'ready'), g(L, 'saved'));
  add('leader saved -> commit Ready', g(L, 'saved'), g(L, 'commit'));
  add('total (client)', send, recv);
}
const out: Record<string, { p50: number; p90: number }> = {};
for (const [k, v] of Object.entries(hops).sort(([a], [b]) => parseInt(a) - parseInt(b) || a.localeCompare(b))) {
  v.sort((a, b) => a - b);
  out[k] = { p50: round(percentile(v, 50), 3), p90: round(percentile(v, 90), 3) };
}
process.stdout.write(`${JSON.stringify({ bench: 'raft-trace', writes: client.size, joined, hops_ms: out })}\n`);
process.exit(0);

/** a member's raft id (traced as the event "id=N" at start) */
function followerId(p: Events): string {
  for (const name of p.keys()) if (name.startsWith('id=')) return name.slice(3);
  return '';
}
