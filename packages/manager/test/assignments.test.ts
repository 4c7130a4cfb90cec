// What a node is sent: its assigned tasks plus exactly the secrets and configs they reference.
import test from 'ava';
import { TaskState, type Config, type Secret, type Task } from '@shoal/api';
import { assignmentSet, diffAssignments } from '../src/dispatcher/assignments.js';
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
