// The dispatcher's status batcher: the window limits how often status is written, it does not
// delay a lone update (a rolling update waits on these reports between its slots).
import test from 'ava';
import { TaskState, type TaskStatus } from '@shoal/api';
import { StatusBatcher } from '../src/dispatcher/status-batcher.js';
import { MemoryState } from '../src/state/memory-state.js';
import { VirtualClock } from '../src/util/clock.js';
import { silentLogger } from '../src/util/log.js';

const st = (state: TaskState): TaskStatus => ({ state, message: '', err: '', health: 0, appliedBy: '' });

async function setup() {
  const clock = new VirtualClock();
  const state = new MemoryState(clock);
  await state.update((tx) => {
    for (const id of ['a', 'b']) tx.create('tasks', { id, serviceId: 's', slot: 1, nodeId: 'n1', desiredState: TaskState.RUNNING, status: st(TaskState.ASSIGNED), networks: [], restartAttempt: 0 });
  });
  const batcher = new StatusBatcher(state, clock, silentLogger, 50, 100);
  const stateOf = (id: string) => state.view((tx) => tx.get('tasks', id)?.status?.state);
  return { clock, state, batcher, stateOf };
}

test('after a quiet window an update is written at once, with the rest of its turn, in one transaction', async (t) => {
  const { clock, state, batcher, stateOf } = await setup();
  const before = state.commits;
  const a = batcher.add('n1', [{ taskId: 'a', status: st(TaskState.RUNNING) }]);
  const b = batcher.add('n1', [{ taskId: 'b', status: st(TaskState.SHUTDOWN) }]);
  clock.advance(0);
  await Promise.all([a, b]);
  t.is(state.commits - before, 1);
  t.is(stateOf('a'), TaskState.RUNNING);
  t.is(stateOf('b'), TaskState.SHUTDOWN);
});

test('updates within the window of a flush wait for the window to end; then the next quiet update goes at once', async (t) => {
  const { clock, state, batcher, stateOf } = await setup();
  const first = batcher.add('n1', [{ taskId: 'a', status: st(TaskState.STARTING) }]);
  clock.advance(0);
  await first;
  const before = state.commits;
  clock.advance(20);
  let done = false;
  const second = batcher.add('n1', [{ taskId: 'a', status: st(TaskState.RUNNING) }]).then(() => (done = true));
  batcher.add('n1', [{ taskId: 'b', status: st(TaskState.ACCEPTED) }]);
  clock.advance(29);
  await new Promise((r) => setImmediate(r));
  t.false(done, 'still inside the window of the first flush');
  t.is(stateOf('a'), TaskState.STARTING);
  clock.advance(1);
  await second;
  t.is(state.commits - before, 1, 'both updates in one transaction at the end of the window');
  t.is(stateOf('a'), TaskState.RUNNING);
  t.is(stateOf('b'), TaskState.ACCEPTED);
  clock.advance(50);
  const third = batcher.add('n1', [{ taskId: 'b', status: st(TaskState.PREPARING) }]);
  clock.advance(0);
  await third;
  t.is(stateOf('b'), TaskState.PREPARING);
});
