// Runs the deterministic Raft simulation over many seeds; every invariant is checked after every
// step, and liveness after the faults heal. A failure names the seeds and how to replay them.
import test from 'ava';
import { runSeed } from './sim/cluster.js';

const FIRST = 1;
const COUNT = 500;

test(`raft simulation: ${COUNT} seeds keep every invariant and recover after faults heal`, (t) => {
  const started = Date.now();
  const failures: string[] = [];
  let committed = 0;
  for (let seed = FIRST; seed < FIRST + COUNT; seed++) {
    const res = runSeed({ seed });
    committed += res.stats.committed;
    if (!res.ok) failures.push(`raft sim: seed ${seed} failed: ${res.reason}\n  replay: npm run sim:raft -- --seed ${seed} --trace`);
  }
  t.log(`${COUNT} seeds, ${committed} entries committed, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.deepEqual(failures, [], failures.join('\n'));
});

test('raft simulation, crash-heavy profile: 100 seeds', (t) => {
  const failures: string[] = [];
  for (let seed = 1; seed <= 100; seed++) {
    const res = runSeed({ seed, profile: 'crashy' });
    if (!res.ok) {
      failures.push(`raft sim: seed ${seed} failed: ${res.reason}\n  replay: npm run sim:raft -- --seed ${seed} --trace --profile crashy`);
    }
  }
  t.deepEqual(failures, [], failures.join('\n'));
});
