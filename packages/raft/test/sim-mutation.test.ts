// Proves the simulator's invariant checker can fail: a core with a deliberately broken rule
// (test-only knobs) must be caught within a few seeds, by a safety check (not a timeout).
import test from 'ava';
import type { TestingKnobs } from '../src/core/raft.js';
import { runSeed } from './sim/cluster.js';

function caught(knobs: TestingKnobs, seeds: number, unsafeJoinWithoutBootstrap = false): string[] {
  const reasons: string[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const res = runSeed({ seed, knobs, unsafeJoinWithoutBootstrap });
    if (!res.ok) reasons.push(`seed ${seed}: ${res.reason}`);
  }
  return reasons;
}

test('a node that votes twice in a term is caught (election safety)', (t) => {
  const reasons = caught({ unsafeDoubleVote: true }, 30);
  t.log(`${reasons.length}/30 seeds caught; first: ${reasons[0]}`);
  t.true(reasons.some((r) => r.includes('election safety')), reasons.join('\n'));
});

test('a vote that ignores the candidate log is caught (leader completeness)', (t) => {
  const reasons = caught({ unsafeIgnoreLogOnVote: true }, 30);
  t.log(`${reasons.length}/30 seeds caught; first: ${reasons[0]}`);
  t.true(
    reasons.some((r) => /leader completeness|state machine safety|lost write|log matching/.test(r)),
    reasons.join('\n'),
  );
});

test('a node that joins with an empty configuration instead of the bootstrap one is caught (configuration agreement)', (t) => {
  const reasons = caught({}, 30, true);
  t.log(`${reasons.length}/30 seeds caught; first: ${reasons[0]}`);
  t.true(reasons.some((r) => r.includes('configuration agreement')), reasons.join('\n'));
});

test('the unmodified core passes the same seeds', (t) => {
  t.deepEqual(caught({}, 30), []);
});
