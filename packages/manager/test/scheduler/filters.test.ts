import test from 'ava';
import { NodeAvailability, NodeState, TaskState } from '@shoal/api';
import { schedule, SchedulerState } from '../../src/scheduler/scheduler.js';
import { CPU, GB, node, pendingTasks, running, task } from './_fixtures.js';

const one = (nodes: ReturnType<typeof node>[], t = task('t1'), tasks: ReturnType<typeof task>[] = []) => schedule({ nodes, tasks, pending: [t], now: '2024-01-01T00:00:00Z' });

test('a ready active node takes the task', (t) => {
  const r = one([node('n1')]);
  t.deepEqual(r.assignments, [{ taskId: 't1', nodeId: 'n1' }]);
  t.deepEqual(r.unschedulable, []);
});

test('down, unknown, disconnected, paused and drained nodes are not available', (t) => {
  const nodes = [
    node('down', { state: NodeState.NODE_DOWN }),
    node('unknown', { state: NodeState.NODE_UNKNOWN }),
    node('disc', { state: NodeState.NODE_DISCONNECTED }),
    node('pause', { availability: NodeAvailability.PAUSE }),
    node('drain', { availability: NodeAvailability.DRAIN }),
  ];
  const r = one(nodes);
  t.deepEqual(r.assignments, []);
  t.deepEqual(r.unschedulable, [{ taskId: 't1', message: 'no suitable node (5 nodes not available for new tasks)' }]);
  t.deepEqual(one([...nodes, node('ok')]).assignments, [{ taskId: 't1', nodeId: 'ok' }]);
});

test('no nodes at all', (t) => {
  t.is(one([]).unschedulable[0]!.message, 'no suitable node');
});

test('memory and CPU reservations minus what assigned tasks reserve', (t) => {
  const nodes = [node('small', { mem: 1 * GB }), node('busy', { mem: 4 * GB }), node('big', { mem: 4 * GB })];
  const tasks = [running('r1', 'busy', { mem: 3 * GB, serviceId: 'other' })];
  const r = one(nodes, task('t1', { mem: 2 * GB }), tasks);
  t.deepEqual(r.assignments, [{ taskId: 't1', nodeId: 'big' }]);
  const cpu = one([node('a', { cpu: 1 * CPU }), node('b', { cpu: 2 * CPU })], task('t1', { cpu: 1.5 * CPU }));
  t.deepEqual(cpu.assignments, [{ taskId: 't1', nodeId: 'b' }]);
});

test('terminal tasks and pending tasks reserve nothing; shutting-down ones still do', (t) => {
  const nodes = [node('n', { mem: 4 * GB })];
  const freed = [running('done', 'n', { mem: 3 * GB, state: TaskState.FAILED }), task('p', { mem: 3 * GB })];
  t.is(one(nodes, task('t1', { mem: 2 * GB }), freed).assignments.length, 1);
  const stopping = [running('s', 'n', { mem: 3 * GB, desired: TaskState.SHUTDOWN })];
  t.is(one(nodes, task('t1', { mem: 2 * GB }), stopping).assignments.length, 0);
});

test('insufficient resources explained per resource', (t) => {
  const nodes = [node('a', { mem: 1 * GB }), node('b', { mem: 1 * GB, cpu: 8 * CPU }), node('c', { cpu: 1 * CPU }), node('d', { state: NodeState.NODE_DOWN })];
  const r = one(nodes, task('t1', { mem: 2 * GB, cpu: 2 * CPU }));
  t.is(r.unschedulable[0]!.message, 'no suitable node (1 node not available for new tasks; 1 node has insufficient CPU; 2 nodes have insufficient memory)');
});

test('resources run out within one batch', (t) => {
  const nodes = [node('a', { mem: 4 * GB }), node('b', { mem: 2 * GB })];
  const r = schedule({ nodes, tasks: [], pending: pendingTasks(5, 't', { mem: 2 * GB }) });
  t.is(r.assignments.length, 3);
  t.deepEqual(r.unschedulable.map((u) => u.taskId), ['t4', 't5']);
  t.is(r.unschedulable[0]!.message, 'no suitable node (2 nodes have insufficient memory)');
});

test('constraints filter', (t) => {
  const nodes = [node('a', { labels: { zone: 'a' } }), node('b', { labels: { zone: 'b' } }), node('c')];
  t.deepEqual(one(nodes, task('t1', { constraints: ['node.labels.zone==b'] })).assignments, [{ taskId: 't1', nodeId: 'b' }]);
  const r = one(nodes, task('t1', { constraints: ['node.labels.zone==z'] }));
  t.is(r.unschedulable[0]!.message, 'no suitable node (scheduling constraints not satisfied on 3 nodes)');
  t.deepEqual(one(nodes, task('t1', { constraints: ['node.hostname==host-c'] })).assignments, [{ taskId: 't1', nodeId: 'c' }]);
});

test('platform filter', (t) => {
  const nodes = [node('x86'), node('arm', { arch: 'aarch64' }), node('win', { os: 'windows' })];
  t.deepEqual(one(nodes, task('t1', { platforms: [{ os: 'linux', architecture: 'arm64' }] })).assignments, [{ taskId: 't1', nodeId: 'arm' }]);
  t.deepEqual(one(nodes, task('t1', { platforms: [{ os: 'windows', architecture: '' }] })).assignments, [{ taskId: 't1', nodeId: 'win' }]);
  const r = one(nodes, task('t1', { platforms: [{ os: 'linux', architecture: 's390x' }] }));
  t.is(r.unschedulable[0]!.message, 'no suitable node (unsupported platform on 3 nodes)');
});

test('host-mode published port conflicts', (t) => {
  const nodes = [node('a'), node('b')];
  const tasks = [running('r', 'a', { hostPorts: [8080], serviceId: 'web0' })];
  t.deepEqual(one(nodes, task('t1', { hostPorts: [8080] }), tasks).assignments, [{ taskId: 't1', nodeId: 'b' }]);
  const r = schedule({ nodes, tasks, pending: pendingTasks(3, 't', { hostPorts: [8080] }) });
  t.is(r.assignments.length, 1);
  t.is(r.unschedulable.length, 2);
  t.is(r.unschedulable[0]!.message, 'no suitable node (host-mode port already in use on 2 nodes)');
  t.is(one(nodes, task('t1', { hostPorts: [9090] }), tasks).assignments.length, 1, 'other ports are fine');
});

test('max replicas per node', (t) => {
  const nodes = [node('a'), node('b')];
  const r = schedule({ nodes, tasks: [running('r', 'a')], pending: pendingTasks(4, 't', { maxReplicas: 2 }) });
  t.is(r.assignments.length, 3);
  t.is(r.unschedulable[0]!.message, 'no suitable node (max replicas per node limit reached on 2 nodes)');
});

test('a node is charged to the first filter it fails', (t) => {
  const nodes = [node('a', { state: NodeState.NODE_DOWN, labels: { zone: 'x' } })];
  t.is(one(nodes, task('t1', { constraints: ['node.labels.zone==y'] })).unschedulable[0]!.message, 'no suitable node (1 node not available for new tasks)');
});

test('pinned tasks (global services) only check their node', (t) => {
  const nodes = [node('a'), node('b', { mem: 1 * GB })];
  t.deepEqual(one(nodes, task('t1', { nodeId: 'b' })).assignments, [{ taskId: 't1', nodeId: 'b' }]);
  t.is(one(nodes, task('t1', { nodeId: 'b', mem: 2 * GB })).unschedulable[0]!.message, 'no suitable node (1 node has insufficient memory)');
  t.is(one(nodes, task('t1', { nodeId: 'zz' })).unschedulable[0]!.message, 'no suitable node (node zz not found)');
});

test('SchedulerState: incremental events are idempotent and reversible', (t) => {
  const s = new SchedulerState();
  s.upsertNode(node('a', { mem: 4 * GB }));
  const r1 = running('r1', 'a', { mem: 1 * GB });
  s.upsertTask(r1);
  s.upsertTask(r1);
  t.is(s.nodeInfo('a')!.reservedMem, 1 * GB);
  t.is(s.nodeInfo('a')!.activeTasks, 1);
  s.upsertTask({ ...r1, status: { ...r1.status!, state: TaskState.COMPLETE } });
  t.is(s.nodeInfo('a')!.reservedMem, 0);
  t.is(s.nodeInfo('a')!.activeTasks, 0);
  s.upsertTask(r1);
  s.removeTask('r1');
  t.is(s.nodeInfo('a')!.byService.size, 0);
  // optimistic assignment, then the committed event replaces it (no double count)
  const p = task('p1', { mem: 1 * GB });
  const res = s.schedule([p]);
  t.deepEqual(res.assignments, [{ taskId: 'p1', nodeId: 'a' }]);
  t.is(s.nodeInfo('a')!.reservedMem, 1 * GB);
  s.upsertTask({ ...p, nodeId: 'a', status: { ...p.status!, state: TaskState.ASSIGNED } });
  t.is(s.nodeInfo('a')!.reservedMem, 1 * GB);
  t.is(s.nodeInfo('a')!.activeTasks, 1);
  // a failed commit is undone by re-upserting the original
  s.upsertTask(p);
  t.is(s.nodeInfo('a')!.activeTasks, 0);
});

test('SchedulerState: a node removed and re-added gets its tasks counted again', (t) => {
  const s = new SchedulerState();
  s.upsertTask(running('r1', 'a', { mem: 1 * GB }));
  s.upsertNode(node('a'));
  t.is(s.nodeInfo('a')!.reservedMem, 1 * GB);
  s.removeNode('a');
  t.is(s.nodeInfo('a'), undefined);
  s.upsertNode(node('a'));
  t.is(s.nodeInfo('a')!.activeTasks, 1);
  s.upsertNode(node('a', { state: NodeState.NODE_DOWN }));
  t.is(s.schedule([task('x')]).unschedulable.length, 1);
});
