import test from 'ava';
import { snapshotStagger } from '../src/manager.js';

test('the managers of a cluster get different snapshot staggers, an eighth of the threshold apart, repeating every four raft ids', (t) => {
  const three = [1, 2, 3].map(snapshotStagger);
  t.deepEqual(three, [0, 1 / 8, 2 / 8]);
  t.is(snapshotStagger(4), 3 / 8);
  t.is(snapshotStagger(5), snapshotStagger(1));
  t.is(snapshotStagger(0), 0, 'no raft id yet: no stagger');
});
