import test from 'ava';
import { ShoalError, TaskState } from '@shoal/api';
import { Store } from '@shoal/store';
import { ensureCluster } from '../src/ca/cluster.js';
import * as svc from '../src/controlapi/services.js';
import { StoreState } from '../src/state/store-adapter.js';
import { silentLogger } from '../src/util/log.js';

test('Control API over the real store (LocalProposer): create, update conflict, watch commits', async (t) => {
  let n = 0;
  const state = new StoreState(new Store({ clock: () => 1_700_000_000_000, newId: () => `x${++n}` } as ConstructorParameters<typeof Store>[0]));
  await state.update((tx) => ensureCluster(tx, 'c1'));
  const commits: number[] = [];
  const unsub = state.subscribe((c) => commits.push(c.changes.length));
  const d = { state, newId: () => `id${++n}`, log: silentLogger };
  const spec = {
    annotations: { name: 'web', labels: {} },
    task: { container: { image: 'nginx', labels: {}, command: [], args: [], hostname: '', env: [], dir: '', user: '', groups: [], mounts: [], stopSignal: '', readOnly: false, sysctls: {}, capabilityAdd: [], capabilityDrop: [], ulimits: [], tty: false, openStdin: false, hosts: [], secrets: [], configs: [], registryAuth: '' }, networks: [], forceUpdate: 0 },
    mode: { $case: 'replicated' as const, replicated: { replicas: 1 } },
  };
  const { service } = await svc.createService(d, { spec });
  const v = service!.meta!.version;
  t.true(v > 0);
  await svc.updateService(d, { serviceId: service!.id, serviceVersion: v, spec: { ...spec, mode: { $case: 'replicated', replicated: { replicas: 3 } } } });
  const err = (await t.throwsAsync(svc.updateService(d, { serviceId: service!.id, serviceVersion: v, spec }))) as ShoalError;
  t.is(err.code, 'Conflict');
  await state.update((tx) => tx.create('tasks', { id: 't1', serviceId: service!.id, slot: 1, nodeId: 'n1', desiredState: TaskState.RUNNING, networks: [], restartAttempt: 0 }));
  t.is(state.view((tx) => tx.tasksByNode('n1')).length, 1);
  await svc.removeService(d, { serviceId: service!.id });
  t.is(state.view((tx) => tx.get('tasks', 't1'))!.desiredState, TaskState.REMOVE);
  await new Promise((r) => setTimeout(r, 20));
  t.true(commits.length >= 4);
  unsub();
});
