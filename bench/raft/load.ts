// One load run against a fresh 3-member Shoal cluster (as bench/raft.ts starts it): for profiling
// a member under one load only, e.g.
//   RAFT_NODE_ARGS="--import $PWD/bench/_cpu-prof.mjs" SHOAL_CPU_PROF_DIR=/tmp/prof \
//   flock /tmp/shoal-bench.lock node --import tsx --conditions=shoal-src bench/raft/load.ts --clients 64 --seconds 10
// Prints the LoadResult as one JSON line, and which member led (its pid, to find its profile);
// with --keep, also the directory that keeps the members' logs and data.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShoalTarget, killAll } from './targets.js';
import { runLoad, waitHealthy } from './workload.js';

function opt(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const keep = process.argv.includes('--keep'); // the members' data and logs (shoal-N.log) stay
process.on('exit', killAll);
const dir = mkdtempSync(join(tmpdir(), 'shoal-load-'));
const t = new ShoalTarget(dir, 28601 + Math.floor(Math.random() * 300) * 4);
try {
  await t.start();
  await waitHealthy(t);
  const leader = await t.leader();
  const r = await runLoad(t, opt('clients', 64), opt('seconds', 10), opt('warmup', 2));
  process.stdout.write(`${JSON.stringify({ bench: 'raft-load', leader: leader + 1, leaderPid: t.pid(leader), ...r, ...(keep ? { logs: dir } : {}) })}\n`);
} finally {
  await t.stop();
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
