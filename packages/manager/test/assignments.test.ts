// What a node is sent: its assigned tasks plus exactly the secrets and configs they reference.
import test from 'ava';
import { TaskState, type Config, type Secret, type Task } from '@shoal/api';
import { applyTaskChanges, assignmentSet, diffAssignments } from '../src/dispatcher/assignments.js';
import { MemoryState } from '../src/state/memory-state.js';
import { VirtualClock } from '../src/util/clock.js';
import { running, taskSpec } from './scheduler/_fixtures.js';

const secret = (id: string, data = 'x'): Secret => ({ id, spec: { annotations: { name: id, labels: {} }, data: Buffer.from(data), driver: undefined }, internal: false });
const config = (id: string): Config => ({ id, spec: { annotations: { name: id, labels: {} }, data: Buffer.from('c') } });

function withRefs(id: string, nodeId: string, secrets: string[], configs: string[]): Task {
  const spec = taskSpec();
  spec.container = {
    image: 'x', labels: {}, command: [], args: [], hostname: '', env: [], dir: '', user: '', groups: [], mounts: [], stopSignal: '', readOnly: false, sysctls: {},
    capabilityAdd: [], capabilityDrop: [], ulimits: [], tty: false, openStdin: false, hosts: [], registryAuth: '',
    secrets: secrets.map((s) => ({ secretId: s, secretName: s, file: undefined })),
    configs: configs.map((c) => ({ configId: c, configName: c, file: undefined })),
  };
  return running(id, nodeId, { spec });
}

test('only the secrets and configs of the node’s assigned tasks are sent; a change of one is an update', async (t) => {
  const state = new MemoryState(new VirtualClock());
  await state.update((tx) => {
    for (const s of ['s1', 's2', 's3']) tx.create('secrets', secret(s));
    for (const c of ['c1', 'c2']) tx.create('configs', config(c));
    tx.create('tasks', withRefs('a', 'n1', ['s1'], ['c1']));
    tx.create('tasks', withRefs('b', 'n2', ['s2'], ['c2'])); // another node's
    tx.create('tasks', { ...withRefs('old', 'n1', ['s3'], []), desiredState: TaskState.SHUTDOWN, status: { state: TaskState.SHUTDOWN, message: '', err: '', health: 0, appliedBy: '' } });
  });
  const set = state.view((tx) => assignmentSet(tx, 'n1'));
  t.deepEqual([...set.keys()].sort(), ['config:c1', 'secret:s1', 'task:a']);
  await state.update((tx) => {
    tx.update('secrets', { ...tx.get('secrets', 's1')!, spec: { annotations: { name: 's1', labels: {} }, data: Buffer.from('new'), driver: undefined } });
    tx.update('secrets', { ...tx.get('secrets', 's2')!, spec: { annotations: { name: 's2', labels: {} }, data: Buffer.from('new'), driver: undefined } });
  });
  const next = state.view((tx) => assignmentSet(tx, 'n1'));
  const changes = diffAssignments(set, next);
  t.is(changes.length, 1);
  t.is(changes[0]!.assignment?.item?.$case, 'secret');
  t.is(Buffer.from((changes[0]!.assignment!.item as { secret: Secret }).secret.spec!.data).toString(), 'new');
});

test('applying each commit’s task changes keeps the same set and sends the same changes as re-reading the node’s whole set', async (t) => {
  // a seeded walk over creates, moves between nodes, desired-state and status changes and deletes
  let seed = 7;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const nodes = ['n1', 'n2', 'n3'];
  const states = [TaskState.PENDING, TaskState.ASSIGNED, TaskState.ACCEPTED, TaskState.RUNNING, TaskState.COMPLETE, TaskState.FAILED];
  const desired = [TaskState.RUNNING, TaskState.SHUTDOWN];
  const state = new MemoryState(new VirtualClock());
  const incremental = new Map(nodes.map((n) => [n, state.view((tx) => assignmentSet(tx, n))]));
  const full = new Map(nodes.map((n) => [n, state.view((tx) => assignmentSet(tx, n))]));
  const key = (c: { assignment?: { item?: { $case: string; task?: Task } }; action: number }): string => `${c.action}:${c.assignment?.item?.task?.id}:${c.assignment?.item?.task?.desiredState}/${c.assignment?.item?.task?.nodeId}`;
  state.subscribe((c) => {
    for (const n of nodes) {
      const mine = c.changes.filter((ch) => (ch.object as Task).nodeId === n || (ch.action === 'update' && (ch.old as Task).nodeId === n));
      const inc = applyTaskChanges(incremental.get(n)!, n, mine);
      const next = state.view((tx) => assignmentSet(tx, n));
      const expected = diffAssignments(full.get(n)!, next);
      full.set(n, next);
      t.truthy(inc, 'no secrets or configs here: always incremental');
      t.deepEqual(inc!.map(key).sort(), expected.map(key).sort(), `commit ${c.version}, node ${n}`);
      t.deepEqual([...incremental.get(n)!.keys()].sort(), [...next.keys()].sort());
    }
  });
  let ids = 0;
  for (let step = 0; step < 150; step++) {
    await state.update((tx) => {
      const tasks = tx.all('tasks');
      for (let k = 0; k < 1 + rnd(4); k++) {
        const op = rnd(5);
        const cur = tasks.length > 0 ? tasks[rnd(tasks.length)]! : undefined;
        if (op === 0 || !cur) tx.create('tasks', running(`t${ids++}`, nodes[rnd(3)]!, { state: states[rnd(states.length)]! }));
        else if (tx.get('tasks', cur.id) === undefined) continue;
        else if (op === 1) tx.delete('tasks', cur.id);
        else {
          const c = tx.get('tasks', cur.id)!;
          if (op === 2) tx.update('tasks', { ...c, nodeId: nodes[rnd(3)]! });
          else if (op === 3) tx.update('tasks', { ...c, desiredState: desired[rnd(2)]! });
          else tx.update('tasks', { ...c, status: { ...c.status!, state: states[rnd(states.length)]! } });
        }
      }
    });
  }
  t.true(ids > 20);
});

test('a task change that involves secrets or configs asks for a full re-read', (t) => {
  const set = new Map() as ReturnType<typeof assignmentSet>;
  t.is(applyTaskChanges(set, 'n1', [{ action: 'create', table: 'tasks', object: withRefs('a', 'n1', ['s1'], []) }]), undefined);
  t.deepEqual(applyTaskChanges(set, 'n1', [{ action: 'create', table: 'tasks', object: running('b', 'n1') }])!.length, 1);
});
