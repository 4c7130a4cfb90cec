// Seeded random simulation: orchestrator + scheduler plans applied to a simulated cluster where
// tasks start instantly, tasks fail at random and nodes go down, drain and come back.
// Invariants after every orchestrator pass:
//  - each replicated slot has at most one runnable task (desired <= RUNNING);
//  - replicated services have exactly slots 1..N runnable (restart condition any, no max attempts);
//  - global services have exactly one runnable task on each eligible node;
//  - no task on a down or drained node stays desired RUNNING.
// Rerun one seed: SEED=17 npx ava packages/manager/test/orchestrator/property.test.ts
import test from 'ava';
import { NodeAvailability, NodeState, TaskState, type Node, type Service, type Task } from '@shoal/api';
import { enforceConstraints, nodeEligible, reconcileService, type Plan } from '../../src/orchestrator/index.js';
import { schedule } from '../../src/scheduler/index.js';
import { node } from '../scheduler/_fixtures.js';
import { Harness, service } from './_harness.js';

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function simulate(seed: number, steps: number): string | undefined {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const h = new Harness();
  const nodes = new Map<string, Node>();
  for (let i = 0; i < 6; i++) nodes.set(`n${i}`, node(`n${i}`, { labels: { zone: `z${i % 2}` } }));
  const services: Service[] = [
    service({ id: 'web', replicas: 4, restart: { delayMs: 2000 } }),
    service({ id: 'api', replicas: 2, restart: { delayMs: 0 }, preferences: ['node.labels.zone'] }),
    service({ id: 'db', replicas: 1, restart: { delayMs: 0 }, constraints: ['node.labels.zone==z0'] }),
    service({ id: 'mon', mode: { $case: 'global', global: {} }, restart: { delayMs: 1000 } }),
  ];
  const apply = (p: Plan) => h.apply(p);
  let maxRunning = 0;

  for (let step = 0; step < steps; step++) {
    // --- faults and user actions
    const r = rnd();
    if (r < 0.25) {
      const running = h.all().filter((t) => t.status!.state === TaskState.RUNNING);
      if (running.length) h.observe(pick(running).id, pick([TaskState.FAILED, TaskState.COMPLETE, TaskState.REJECTED]));
    } else if (r < 0.4) {
      const n = pick([...nodes.values()]);
      nodes.set(n.id, { ...n, status: { ...n.status!, state: n.status!.state === NodeState.NODE_DOWN ? NodeState.NODE_READY : NodeState.NODE_DOWN } });
    } else if (r < 0.5) {
      const n = pick([...nodes.values()]);
      const availability = n.spec!.availability === NodeAvailability.DRAIN ? NodeAvailability.ACTIVE : NodeAvailability.DRAIN;
      nodes.set(n.id, { ...n, spec: { ...n.spec!, availability } });
    } else if (r < 0.6) {
      const i = Math.floor(rnd() * 3);
      const s = services[i]!;
      services[i] = { ...s, spec: { ...s.spec!, mode: { $case: 'replicated', replicated: { replicas: Math.floor(rnd() * 6) } } } };
    } else if (r < 0.65) {
      const i = Math.floor(rnd() * 3);
      const s = services[i]!;
      services[i] = { ...s, specVersion: { index: s.specVersion!.index + 1 } };
    }
    h.advance(Math.floor(rnd() * 3000));

    // --- orchestrators
    const nodeList = [...nodes.values()];
    apply(enforceConstraints(nodeList, h.all(), h.ctx()));
    for (const s of services) apply(reconcileService(s, h.all().filter((t) => t.serviceId === s.id), nodeList, h.ctx()));

    // --- invariants
    const where = `seed ${seed} step ${step}`;
    for (const s of services) {
      const active = h.all().filter((t) => t.serviceId === s.id && t.desiredState <= TaskState.RUNNING);
      if (s.spec!.mode!.$case === 'replicated') {
        const slots = active.map((t) => t.slot).sort((a, b) => a - b);
        if (new Set(slots).size !== slots.length) return `${where}: ${s.id} has two runnable tasks in one slot: ${slots}`;
        const want = Array.from({ length: s.spec!.mode!.replicated.replicas }, (_, i) => i + 1);
        if (slots.join() !== want.join()) return `${where}: ${s.id} runnable slots ${slots} != ${want}`;
      } else {
        const onNodes = active.map((t) => t.nodeId).sort();
        if (new Set(onNodes).size !== onNodes.length) return `${where}: ${s.id} has two runnable tasks on one node`;
        const eligible = nodeList.filter((n) => nodeEligible(n, s)).map((n) => n.id);
        for (const id of eligible) if (!onNodes.includes(id)) return `${where}: eligible node ${id} has no ${s.id} task`;
      }
    }
    for (const t of h.all()) {
      const n = nodes.get(t.nodeId);
      if (t.desiredState === TaskState.RUNNING && n && (n.status!.state === NodeState.NODE_DOWN || n.spec!.availability === NodeAvailability.DRAIN)) {
        return `${where}: ${t.id} (${t.serviceId}) desired RUNNING on lost node ${n.id}`;
      }
    }

    // --- scheduler
    const nonTerminal = h.all().filter((t) => t.status!.state <= TaskState.RUNNING);
    const pending = nonTerminal.filter((t) => t.status!.state < TaskState.ASSIGNED && t.desiredState <= TaskState.RUNNING);
    const res = schedule({ nodes: nodeList, tasks: nonTerminal, pending });
    for (const a of res.assignments) {
      const t = h.tasks.get(a.taskId)!;
      h.tasks.set(t.id, { ...t, nodeId: a.nodeId, status: { ...t.status!, state: TaskState.ASSIGNED } });
    }
    for (const u of res.unschedulable) {
      const t = h.tasks.get(u.taskId)!;
      h.tasks.set(t.id, { ...t, status: { ...t.status!, state: TaskState.PENDING, message: u.message } });
    }
    // --- agents: instant start and stop on nodes that are up
    for (const t of h.all()) {
      const n = nodes.get(t.nodeId);
      if (!n || n.status!.state === NodeState.NODE_DOWN) continue;
      const st = t.status!.state;
      if (t.desiredState === TaskState.RUNNING && st >= TaskState.ASSIGNED && st < TaskState.RUNNING) h.observe(t.id, TaskState.RUNNING);
      else if (t.desiredState > TaskState.RUNNING && st <= TaskState.RUNNING && st >= TaskState.ASSIGNED) h.observe(t.id, TaskState.SHUTDOWN);
    }
    maxRunning = Math.max(maxRunning, h.all().filter((t: Task) => t.status!.state === TaskState.RUNNING).length);
  }
  return maxRunning > 3 ? undefined : `seed ${seed}: at most ${maxRunning} tasks ever ran at once`;
}

test('orchestrator + scheduler invariants hold over random faults', (t) => {
  const only = process.env.SEED ? [Number(process.env.SEED)] : Array.from({ length: 40 }, (_, i) => i + 1);
  for (const seed of only) {
    const err = simulate(seed, 80);
    t.is(err, undefined, `rerun: SEED=${seed}`);
    if (err) return;
  }
});
