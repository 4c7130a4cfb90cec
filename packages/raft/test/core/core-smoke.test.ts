import test from 'ava';
import { Net, text, Role } from './harness.js';

test('three nodes elect a leader and replicate', (t) => {
  const net = new Net([1, 2, 3]);
  net.campaign(1);
  t.deepEqual(net.leaders(), [1]);
  net.node(1).rn.propose(text('a'));
  net.settle();
  for (const id of [1, 2, 3]) t.deepEqual(net.appliedData(id), ['a']);
  net.node(2).rn.propose(text('b'));
  net.settle();
  for (const id of [1, 2, 3]) t.deepEqual(net.appliedData(id), ['a', 'b']);
  t.is(net.node(2).rn.status().role, Role.Follower);
});
