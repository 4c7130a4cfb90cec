import test from 'ava';
import { NodeState } from '@shoal/api';
import { schedule } from '../../src/scheduler/scheduler.js';
import { countBy, node, pendingTasks, running, task } from './_fixtures.js';

test('spread: fewest tasks of this service first', (t) => {
  const nodes = [node('a'), node('b'), node('c')];
  const tasks = [running('r1', 'a'), running('r2', 'a'), running('r3', 'b')];
  const r = schedule({ nodes, tasks, pending: pendingTasks(3, 't') });
  t.deepEqual(countBy(r.assignments, (a) => a.nodeId), { c: 2, b: 1 });
});

test('spread: then fewest tasks overall', (t) => {
  const nodes = [node('a'), node('b'), node('c')];
  const tasks = [running('o1', 'a', { serviceId: 'other' }), running('o2', 'a', { serviceId: 'other' }), running('o3', 'b', { serviceId: 'other' })];
  const r = schedule({ nodes, tasks, pending: pendingTasks(1, 't') });
  t.deepEqual(r.assignments, [{ taskId: 't1', nodeId: 'c' }]);
  const r2 = schedule({ nodes, tasks, pending: pendingTasks(6, 't') });
  t.deepEqual(countBy(r2.assignments, (a) => a.nodeId), { a: 2, b: 2, c: 2 });
});

test('spread: ties broken by node id (deterministic)', (t) => {
  const nodes = [node('c'), node('a'), node('b')];
  const r = schedule({ nodes, tasks: [], pending: pendingTasks(4, 't') });
  t.deepEqual(r.assignments.map((a) => a.nodeId), ['a', 'b', 'c', 'a']);
});

test('spread is even for a big batch', (t) => {
  const nodes = Array.from({ length: 7 }, (_, i) => node(`n${i}`));
  const r = schedule({ nodes, tasks: [], pending: pendingTasks(700, 't') });
  t.is(r.assignments.length, 700);
  t.deepEqual(new Set(Object.values(countBy(r.assignments, (a) => a.nodeId))), new Set([100]));
});

test('tasks of separate services are spread independently, totals still balanced', (t) => {
  const nodes = [node('a'), node('b')];
  const pending = [...pendingTasks(3, 'x', { serviceId: 'x' }), ...pendingTasks(3, 'y', { serviceId: 'y' })];
  const r = schedule({ nodes, tasks: [], pending });
  t.deepEqual(countBy(r.assignments, (a) => a.nodeId), { a: 3, b: 3 });
});

test('preference: spread over a label value first, not over nodes', (t) => {
  // zone a has 3 nodes, zone b has 1: tasks split evenly between zones
  const nodes = [node('a1', { labels: { zone: 'a' } }), node('a2', { labels: { zone: 'a' } }), node('a3', { labels: { zone: 'a' } }), node('b1', { labels: { zone: 'b' } })];
  const r = schedule({ nodes, tasks: [], pending: pendingTasks(6, 't', { preferences: ['node.labels.zone'] }) });
  const byNode = countBy(r.assignments, (a) => a.nodeId);
  t.is(byNode.b1, 3);
  t.is((byNode.a1 ?? 0) + (byNode.a2 ?? 0) + (byNode.a3 ?? 0), 3);
  t.deepEqual([byNode.a1, byNode.a2, byNode.a3], [1, 1, 1]);
});

test('preference: existing tasks of the service count toward their branch', (t) => {
  const nodes = [node('a1', { labels: { zone: 'a' } }), node('b1', { labels: { zone: 'b' } })];
  const tasks = [running('r1', 'a1'), running('r2', 'a1')];
  const r = schedule({ nodes, tasks, pending: pendingTasks(4, 't', { preferences: ['node.labels.zone'] }) });
  t.deepEqual(countBy(r.assignments, (a) => a.nodeId), { b1: 3, a1: 1 });
});

test('preference: nodes missing the label form their own group', (t) => {
  const nodes = [node('a1', { labels: { zone: 'a' } }), node('n1'), node('n2'), node('n3')];
  const r = schedule({ nodes, tasks: [], pending: pendingTasks(4, 't', { preferences: ['node.labels.zone'] }) });
  const byNode = countBy(r.assignments, (a) => a.nodeId);
  t.is(byNode.a1, 2);
  t.is((byNode.n1 ?? 0) + (byNode.n2 ?? 0) + (byNode.n3 ?? 0), 2);
});

test('preferences nest: balance over pref 1, then within each value over pref 2', (t) => {
  const nodes = [
    node('ar1', { labels: { dc: 'east', rack: 'r1' } }),
    node('ar2', { labels: { dc: 'east', rack: 'r2' } }),
    node('ar2b', { labels: { dc: 'east', rack: 'r2' } }),
    node('br1', { labels: { dc: 'west', rack: 'r1' } }),
  ];
  const r = schedule({ nodes, tasks: [], pending: pendingTasks(8, 't', { preferences: ['node.labels.dc', 'node.labels.rack'] }) });
  const byNode = countBy(r.assignments, (a) => a.nodeId);
  t.is(byNode.br1, 4, 'west gets half');
  t.is(byNode.ar1, 2, 'east/r1 gets half of east');
  t.is((byNode.ar2 ?? 0) + (byNode.ar2b ?? 0), 2, 'east/r2 gets the other half');
});

test('preference: a full branch overflows into the others', (t) => {
  const nodes = [node('a1', { labels: { zone: 'a' }, mem: 2 }), node('b1', { labels: { zone: 'b' } })];
  const r = schedule({ nodes, tasks: [], pending: pendingTasks(4, 't', { preferences: ['node.labels.zone'], mem: 1 }) });
  t.deepEqual(countBy(r.assignments, (a) => a.nodeId), { a1: 2, b1: 2 });
  const r2 = schedule({ nodes, tasks: [], pending: pendingTasks(6, 't', { preferences: ['node.labels.zone'], mem: 1 }) });
  t.deepEqual(countBy(r2.assignments, (a) => a.nodeId), { a1: 2, b1: 4 });
});

test('preferences only spread over nodes that pass the filters', (t) => {
  const nodes = [node('a1', { labels: { zone: 'a' }, state: NodeState.NODE_DOWN }), node('b1', { labels: { zone: 'b' } }), node('c1', { labels: { zone: 'c' } })];
  const r = schedule({ nodes, tasks: [], pending: pendingTasks(4, 't', { preferences: ['node.labels.zone'] }) });
  t.deepEqual(countBy(r.assignments, (a) => a.nodeId), { b1: 2, c1: 2 });
});

test('constraints and preferences together', (t) => {
  const nodes = [
    node('a1', { labels: { zone: 'a', tier: 'web' } }),
    node('a2', { labels: { zone: 'a', tier: 'db' } }),
    node('b1', { labels: { zone: 'b', tier: 'web' } }),
    node('b2', { labels: { zone: 'b', tier: 'web' } }),
  ];
  const r = schedule({ nodes, tasks: [], pending: pendingTasks(4, 't', { constraints: ['node.labels.tier==web'], preferences: ['node.labels.zone'] }) });
  t.deepEqual(countBy(r.assignments, (a) => a.nodeId), { a1: 2, b1: 1, b2: 1 });
});

test('batch: groups by service and spec version, and places every task once', (t) => {
  const nodes = Array.from({ length: 50 }, (_, i) => node(`n${i}`, { labels: { zone: `z${i % 3}` } }));
  const pending = [];
  for (let s = 0; s < 10; s++) {
    pending.push(...pendingTasks(100, `s${s}-`, { serviceId: `s${s}`, specVersion: 1 + (s % 2), preferences: s % 2 ? ['node.labels.zone'] : [] }));
  }
  const r = schedule({ nodes, tasks: [], pending });
  t.is(r.assignments.length, 1000);
  t.is(new Set(r.assignments.map((a) => a.taskId)).size, 1000);
  const perNode = Object.values(countBy(r.assignments, (a) => a.nodeId));
  t.true(Math.max(...perNode) - Math.min(...perNode) <= 2, `balanced (preferences may skew by one): ${perNode}`);
  for (let s = 0; s < 10; s++) {
    // services with a zone preference are balanced over zones, the others over nodes
    const key = s % 2 ? (a: { nodeId: string }) => `z${Number(a.nodeId.slice(1)) % 3}` : (a: { nodeId: string }) => a.nodeId;
    const mine = Object.values(countBy(r.assignments.filter((a) => a.taskId.startsWith(`s${s}-`)), key));
    t.true(Math.max(...mine) - Math.min(...mine) <= 1, `service s${s} balanced: ${mine}`);
  }
});

test('batch: unschedulable tasks of a group all get the same explanation', (t) => {
  const nodes = [node('a', { mem: 3 }), node('b', { state: NodeState.NODE_DOWN })];
  const r = schedule({ nodes, tasks: [], pending: pendingTasks(5, 't', { mem: 1 }) });
  t.is(r.assignments.length, 3);
  t.deepEqual(
    r.unschedulable.map((u) => u.message),
    ['no suitable node (1 node not available for new tasks; 1 node has insufficient memory)', 'no suitable node (1 node not available for new tasks; 1 node has insufficient memory)'],
  );
});

test('tasks without a spec version are grouped by their scheduling requirements', (t) => {
  const nodes = [node('a', { labels: { x: '1' } }), node('b')];
  const p1 = task('p1', { constraints: ['node.labels.x==1'] });
  const p2 = task('p2', {});
  p1.specVersion = undefined;
  p2.specVersion = undefined;
  const r = schedule({ nodes, tasks: [], pending: [p1, p2] });
  t.deepEqual(r.assignments, [
    { taskId: 'p1', nodeId: 'a' },
    { taskId: 'p2', nodeId: 'b' },
  ]);
});
