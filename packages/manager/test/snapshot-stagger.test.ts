import test from 'ava';
import { DEFAULT_SNAPSHOT_BYTES, staggeredSnapshotBytes } from '../src/manager.js';

test('the managers of a cluster cross their snapshot thresholds at different log sizes, none below the base', (t) => {
  const base = DEFAULT_SNAPSHOT_BYTES;
  const three = [1, 2, 3].map((id) => staggeredSnapshotBytes(base, id));
  t.is(new Set(three).size, 3, `thresholds ${three.join(', ')}`);
  const sorted = [...three].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) t.true(sorted[i]! - sorted[i - 1]! >= base / 8, 'an eighth of the base apart: seconds of deploy between two snapshots');
  t.true(three.every((b) => b >= base && b <= base * 1.5));
  t.is(staggeredSnapshotBytes(base, 1), base);
  t.is(staggeredSnapshotBytes(1000, 5), staggeredSnapshotBytes(1000, 1), 'the steps repeat every four raft ids');
});
