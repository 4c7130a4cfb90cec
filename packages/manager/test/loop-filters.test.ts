// Which task updates send a service back through the orchestrators: a task's progress reported by
// its agent does not; what can change a plan does.
import test from 'ava';
import { TaskState, type Task } from '@shoal/api';
import { taskChangeMatters } from '../src/loops/orchestrator.js';

const task = (state: TaskState, o: Partial<Task> = {}): Task => ({
  id: 't1',
  serviceId: 's1',
  slot: 1,
  nodeId: 'n1',
  desiredState: TaskState.RUNNING,
  status: { state, message: '', err: '', health: 0, appliedBy: '' },
  networks: [],
  restartAttempt: 0,
  ...o,
});

test('progress between ASSIGNED and RUNNING, and NEW -> PENDING, do not matter to the orchestrators', (t) => {
  const path = [TaskState.ASSIGNED, TaskState.ACCEPTED, TaskState.PREPARING, TaskState.READY, TaskState.STARTING, TaskState.RUNNING];
  for (let i = 1; i < path.length; i++) t.false(taskChangeMatters(task(path[i - 1]!), task(path[i]!)), `${TaskState[path[i - 1]!]} -> ${TaskState[path[i]!]}`);
  t.false(taskChangeMatters(task(TaskState.NEW, { nodeId: '' }), task(TaskState.PENDING, { nodeId: '' })));
  t.false(taskChangeMatters(task(TaskState.RUNNING), { ...task(TaskState.RUNNING), status: { ...task(TaskState.RUNNING).status!, message: 'still running' } }));
});

test('stopping, reaching a node, and changes of desired state, node, slot or restart number matter', (t) => {
  for (const end of [TaskState.COMPLETE, TaskState.FAILED, TaskState.SHUTDOWN, TaskState.REJECTED, TaskState.ORPHANED]) {
    t.true(taskChangeMatters(task(TaskState.RUNNING), task(end)), `RUNNING -> ${TaskState[end]}`);
    t.true(taskChangeMatters(task(TaskState.STARTING), task(end)), `STARTING -> ${TaskState[end]}`);
  }
  t.true(taskChangeMatters(task(TaskState.PENDING, { nodeId: '' }), task(TaskState.ASSIGNED)), 'placed');
  t.true(taskChangeMatters(task(TaskState.RUNNING), task(TaskState.RUNNING, { desiredState: TaskState.SHUTDOWN })));
  t.true(taskChangeMatters(task(TaskState.RUNNING), task(TaskState.RUNNING, { nodeId: 'n2' })));
  t.true(taskChangeMatters(task(TaskState.RUNNING), task(TaskState.RUNNING, { slot: 2 })));
  t.true(taskChangeMatters(task(TaskState.RUNNING), task(TaskState.RUNNING, { restartAttempt: 1 })));
});
