// Entry point of the Raft simulation:
//   npm run sim:raft -- --seeds 10000        soak: seeds 1..10000 (or --from N)
//   npm run sim:raft -- --seed N [--trace]   replay one seed, optionally printing its trace
//   --profile crashy                         frequent leader crashes, one entry per Append
import { runSeed } from './cluster.js';
import { checkHistory } from './linearizability.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const trace = process.argv.includes('--trace');
const profile = arg('--profile') === 'crashy' ? 'crashy' : 'mixed';
const one = arg('--seed');
const seeds = one !== undefined ? [Number(one)] : range(Number(arg('--from') ?? 1), Number(arg('--seeds') ?? 100));

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

const start = Date.now();
let failed = 0;
let ops = 0;
for (const seed of seeds) {
  const res = runSeed({ seed, profile, ...(trace ? { trace: (l: string) => console.log(l) } : {}) });
  let reason = res.reason;
  if (res.ok) {
    const lin = checkHistory(res.history);
    if (!lin.ok) reason = `history not linearizable (key ${lin.key})`;
    ops += res.history.length;
  }
  if (reason !== undefined) {
    failed++;
    console.log(`raft sim: seed ${seed} failed: ${reason}`);
    console.log(`  replay: npm run sim:raft -- --seed ${seed} --trace${profile === 'crashy' ? ' --profile crashy' : ''}`);
  } else if (one !== undefined) {
    console.log(`raft sim: seed ${seed} ok after ${res.ticks} ticks`, JSON.stringify(res.stats));
  }
}
const secs = (Date.now() - start) / 1000;
console.log(`raft sim: ${seeds.length - failed}/${seeds.length} seeds ok, ${ops} client ops checked, ${secs.toFixed(1)} s`);
process.exitCode = failed > 0 ? 1 : 0;
