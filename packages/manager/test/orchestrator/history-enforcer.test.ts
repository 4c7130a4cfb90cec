import test from 'ava';
import { TaskState } from '@shoal/api';
import { enforceConstraints, expiredTasks, retainHistory } from '../../src/orchestrator/index.js';
import { GB, node, running, task } from '../scheduler/_fixtures.js';
import { Harness } from './_harness.js';

const old = (id: string, slot: number, minute: number, o: Parameters<typeof task>[1] = {}) => {
  const t = task(id, { slot, state: TaskState.FAILED, desired: TaskState.SHUTDOWN, ...o });
  t.meta = { version: 1, createdAt: new Date(Date.UTC(2024, 0, 1, 0, minute)).toISOString() };
  return t;
};

test('keeps at most N old tasks per slot, deleting the oldest', (t) => {
  const tasks = [...Array.from({ length: 8 }, (_, i) => old(`s1-${i}`, 1, i)), ...Array.from({ length: 3 }, (_, i) => old(`s2-${i}`, 2, i))];
  t.deepEqual(expiredTasks(tasks).sort(), ['s1-0', 's1-1', 's1-2']);
  t.deepEqual(expiredTasks(tasks, 2).sort(), ['s1-0', 's1-1', 's1-2', 's1-3', 's1-4', 's1-5', 's2-0']);
});

test('runnable and still-stopping tasks are not history', (t) => {
  const tasks = [
    old('a', 1, 0),
    old('b', 1, 1, { state: TaskState.RUNNING }), // desired SHUTDOWN but still running
    old('c', 1, 2, { desired: TaskState.RUNNING, state: TaskState.RUNNING }),
  ];
  t.deepEqual(expiredTasks(tasks, 0), ['a']);
});

test('global tasks are grouped per node; services apart', (t) => {
  const tasks = [old('a1', 0, 0, { nodeId: 'a' }), old('a2', 0, 1, { nodeId: 'a' }), old('b1', 0, 0, { nodeId: 'b' }), old('x1', 1, 0, { serviceId: 'x' }), old('x2', 1, 1, { serviceId: 'x' })];
  t.deepEqual(expiredTasks(tasks, 1).sort(), ['a1', 'x1']);
});

test('the newest task recording a given-up slot is kept even at limit 0', (t) => {
  const tasks = [old('a', 1, 0), old('b', 1, 1, { desired: TaskState.COMPLETE })];
  t.deepEqual(expiredTasks(tasks, 0), ['a']);
});

test('retainHistory returns a delete-only plan', (t) => {
  const h = new Harness();
  const p = retainHistory([old('a', 1, 0), old('b', 1, 1)], h.ctx({ historyLimit: 1 }));
  t.deepEqual(p, { create: [], update: [], delete: ['a'] });
});

test('enforcer: tasks on nodes that no longer satisfy constraints are shut down', (t) => {
  const h = new Harness();
  const nodes = [node('a', { labels: { zone: 'x' } }), node('b', { labels: { zone: 'y' } })];
  const tasks = [
    running('ok', 'a', { constraints: ['node.labels.zone==x'] }),
    running('bad', 'b', { constraints: ['node.labels.zone==x'] }),
    running('free', 'b'),
    running('done', 'b', { constraints: ['node.labels.zone==x'], state: TaskState.FAILED }),
    running('stopping', 'b', { constraints: ['node.labels.zone==x'], desired: TaskState.SHUTDOWN }),
  ];
  const p = enforceConstraints(nodes, tasks, h.ctx());
  t.deepEqual(p.update.map((u) => [u.id, u.desiredState]), [['bad', TaskState.SHUTDOWN]]);
});

test('enforcer: resources shrank: newest tasks that do not fit are shut down', (t) => {
  const h = new Harness();
  const mk = (id: string, minute: number) => {
    const x = running(id, 'a', { mem: 2 * GB });
    x.meta = { version: 1, createdAt: new Date(Date.UTC(2024, 0, 1, 0, minute)).toISOString() };
    return x;
  };
  const tasks = [mk('t3', 3), mk('t1', 1), mk('t2', 2), running('nores', 'a')];
  const p = enforceConstraints([node('a', { mem: 5 * GB })], tasks, h.ctx());
  t.deepEqual(p.update.map((u) => u.id), ['t3']);
  t.deepEqual(enforceConstraints([node('a', { mem: 8 * GB })], tasks, h.ctx()).update, []);
});

test('enforcer: pending and unknown-node tasks are left alone', (t) => {
  const h = new Harness();
  const p = enforceConstraints([node('a')], [task('p', { constraints: ['node.labels.zone==q'] }), running('r', 'zz', { constraints: ['node.labels.zone==q'] })], h.ctx());
  t.deepEqual(p.update, []);
});
