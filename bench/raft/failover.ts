// Leader failover trials alone against a fresh 3-member Shoal cluster (as bench/raft.ts starts
// it), keeping the members' logs when asked, to see what a slow trial waited for:
//   flock /tmp/shoal-bench.lock node --import tsx --conditions=shoal-src bench/raft/failover.ts --trials 60 [--keep]
// Prints each trial and then the FailoverResult, one JSON line each; with --keep, the last line
// names the directory holding shoal-N.log.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShoalTarget, killAll } from './targets.js';
import { runFailover, waitHealthy } from './workload.js';

function opt(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const keep = process.argv.includes('--keep');
process.on('exit', killAll);
const dir = mkdtempSync(join(tmpdir(), 'shoal-failover-'));
const t = new ShoalTarget(dir, 28601 + Math.floor(Math.random() * 300) * 4);
try {
  await t.start();
  await waitHealthy(t);
  const r = await runFailover(t, opt('trials', 20), (o) => process.stdout.write(`${JSON.stringify({ bench: 'raft-failover', ...o })}\n`));
  process.stdout.write(`${JSON.stringify({ bench: 'raft-failover', ...r, ...(keep ? { logs: dir } : {}) })}\n`);
} finally {
  await t.stop();
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
