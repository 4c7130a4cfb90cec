import test from 'ava';
import { NodeAvailability, NodeState, RestartCondition, TaskState } from '@shoal/api';
import { reconcileGlobal } from '../../src/orchestrator/index.js';
import { node } from '../scheduler/_fixtures.js';
import { Harness, service } from './_harness.js';

const g = (o: Parameters<typeof service>[0] = {}) => service({ mode: { $case: 'global', global: {} }, ...o });
const byNode = (h: Harness) => h.active().map((t) => t.nodeId).sort();

test('one task per eligible node, pinned to it, slot 0', (t) => {
  const h = new Harness();
  const nodes = [node('a'), node('b'), node('c', { state: NodeState.NODE_DOWN }), node('d', { availability: NodeAvailability.DRAIN }), node('e', { availability: NodeAvailability.PAUSE })];
  const p = h.apply(reconcileGlobal(g(), [], nodes, h.ctx()));
  t.deepEqual(p.create.map((c) => [c.nodeId, c.slot]), [['a', 0], ['b', 0]]);
  t.deepEqual(reconcileGlobal(g(), h.all(), nodes, h.ctx()).create, []);
});

test('follows node joins, leaves, drains and label changes', (t) => {
  const h = new Harness();
  const s = g({ constraints: ['node.labels.env==prod'] });
  let nodes = [node('a', { labels: { env: 'prod' } }), node('b', { labels: { env: 'dev' } })];
  h.apply(reconcileGlobal(s, [], nodes, h.ctx()));
  h.runAll();
  t.deepEqual(byNode(h), ['a']);
  // b relabelled, c joins
  nodes = [node('a', { labels: { env: 'prod' } }), node('b', { labels: { env: 'prod' } }), node('c', { labels: { env: 'prod' } })];
  h.apply(reconcileGlobal(s, h.all(), nodes, h.ctx()));
  h.runAll();
  t.deepEqual(byNode(h), ['a', 'b', 'c']);
  // a drained, b loses its label, c removed
  nodes = [node('a', { labels: { env: 'prod' }, availability: NodeAvailability.DRAIN }), node('b', { labels: { env: 'dev' } })];
  const p = h.apply(reconcileGlobal(s, h.all(), nodes, h.ctx()));
  t.is(p.create.length, 0);
  t.is(p.update.filter((u) => u.desiredState === TaskState.SHUTDOWN).length, 3);
  t.deepEqual(byNode(h), []);
  // a back to active
  nodes = [node('a', { labels: { env: 'prod' } })];
  t.deepEqual(h.apply(reconcileGlobal(s, h.all(), nodes, h.ctx())).create.map((c) => c.nodeId), ['a']);
});

test('down node: task shut down; paused or disconnected node keeps its task', (t) => {
  const h = new Harness();
  h.apply(reconcileGlobal(g(), [], [node('a'), node('b'), node('c')], h.ctx()));
  h.runAll();
  const nodes = [node('a', { state: NodeState.NODE_DOWN }), node('b', { availability: NodeAvailability.PAUSE }), node('c', { state: NodeState.NODE_DISCONNECTED })];
  const p = h.apply(reconcileGlobal(g(), h.all(), nodes, h.ctx()));
  t.deepEqual(p.update.map((u) => [u.nodeId, u.desiredState]), [['a', TaskState.SHUTDOWN]]);
  t.deepEqual(byNode(h), ['b', 'c']);
});

test('platform mismatch is not eligible', (t) => {
  const h = new Harness();
  const s = g({ platforms: [{ os: 'linux', architecture: 'arm64' }] });
  const p = reconcileGlobal(s, [], [node('x'), node('arm', { arch: 'aarch64' })], h.ctx());
  t.deepEqual(p.create.map((c) => c.nodeId), ['arm']);
});

test('failed global task restarts on the same node per policy', (t) => {
  const h = new Harness();
  const s = g({ restart: { condition: RestartCondition.RESTART_ON_FAILURE, delayMs: 0 } });
  h.apply(reconcileGlobal(s, [], [node('a')], h.ctx()));
  const first = h.active()[0]!;
  h.observe(first.id, TaskState.FAILED, 'a');
  const p = h.apply(reconcileGlobal(s, h.all(), [node('a')], h.ctx()));
  t.deepEqual(p.create.map((c) => [c.nodeId, c.restartAttempt, c.desiredState]), [['a', 1, TaskState.RUNNING]]);
  const second = h.active()[0]!;
  h.observe(second.id, TaskState.COMPLETE, 'a');
  const p2 = h.apply(reconcileGlobal(s, h.all(), [node('a')], h.ctx()));
  t.is(p2.create.length, 0, 'completed is not a failure');
  t.is(reconcileGlobal(s, h.all(), [node('a')], h.ctx()).create.length, 0, 'and the node stays covered');
});

test('dirty global tasks are replaced on their node by the default updater', (t) => {
  const h = new Harness();
  h.apply(reconcileGlobal(g({ version: 1 }), [], [node('a')], h.ctx()));
  h.runAll();
  const p = h.apply(reconcileGlobal(g({ version: 2 }), h.all(), [node('a')], h.ctx()));
  t.deepEqual(p.create.map((c) => [c.nodeId, c.specVersion!.index]), [['a', 2]]);
  t.is(h.active().length, 1);
});

test('global job: once per node per iteration; completed not restarted; iteration bump reruns', (t) => {
  const h = new Harness();
  const job = (it: number) => service({ mode: { $case: 'globalJob', globalJob: {} }, jobIteration: it });
  const nodes = [node('a'), node('b')];
  h.apply(reconcileGlobal(job(1), [], nodes, h.ctx()));
  t.is(h.active().length, 2);
  for (const x of h.active()) h.observe(x.id, TaskState.COMPLETE);
  const p = h.apply(reconcileGlobal(job(1), h.all(), nodes, h.ctx()));
  t.is(p.create.length, 0);
  t.true(p.update.every((u) => u.desiredState === TaskState.COMPLETE));
  t.is(reconcileGlobal(job(1), h.all(), [...nodes, node('c')], h.ctx()).create.length, 1, 'a new node runs it too');
  const rerun = h.apply(reconcileGlobal(job(2), h.all(), nodes, h.ctx()));
  t.deepEqual(rerun.create.map((c) => [c.nodeId, c.jobIteration!.index]), [['a', 2], ['b', 2]]);
});
