import test from 'ava';
import {
  ControlClient,
  createClient,
  NodeRole,
  NodeState,
  ShoalError,
  TaskState,
  type ServiceSpec,
} from '@shoal/api';
import { ensureCluster } from '../src/ca/cluster.js';
import { parseJoinToken } from '../src/ca/join-tokens.js';
import { ControlServer } from '../src/controlapi/server.js';
import { MemoryState } from '../src/state/memory-state.js';
import { silentLogger } from '../src/util/log.js';

type Call = <R>(method: string, req: unknown) => Promise<R>;

function spec(name: string, over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    annotations: { name, labels: { tier: name === 'web' ? 'front' : 'back' } },
    task: { container: { image: 'nginx', labels: {}, command: [], args: [], hostname: '', env: [], dir: '', user: '', groups: [], mounts: [], stopSignal: '', readOnly: false, sysctls: {}, capabilityAdd: [], capabilityDrop: [], ulimits: [], tty: false, openStdin: false, hosts: [], secrets: [], configs: [], registryAuth: '' }, networks: [], forceUpdate: 0 },
    mode: { $case: 'replicated', replicated: { replicas: 2 } },
    ...over,
  };
}

async function setup(t: { teardown(fn: () => unknown): void }, leader?: ConstructorParameters<typeof ControlServer>[1]) {
  const state = new MemoryState();
  let n = 0;
  await state.update((tx) => ensureCluster(tx, 'cluster1'));
  const server = new ControlServer({ state, newId: () => `id${++n}`, log: silentLogger, managerAddrs: () => ['127.0.0.1:4242'] }, leader);
  const port = await server.listen('127.0.0.1:0');
  const client = createClient(ControlClient, `127.0.0.1:${port}`);
  t.teardown(async () => {
    client.close();
    await server.close();
  });
  const call: Call = (method, req) =>
    new Promise((resolve, reject) =>
      (client as unknown as Record<string, (r: unknown, cb: (e: unknown, r: unknown) => void) => void>)[method]!.call(client, req, (e, r) => (e ? reject(ShoalError.fromGrpc(e)) : resolve(r as never))),
    );
  return { state, call, port };
}

test('services: create, list filters, update with version, conflict, scale, rollback, remove', async (t) => {
  const { call, state } = await setup(t);
  const { service: web } = await call<{ service: { id: string; meta: { version: number } } }>('createService', { spec: spec('web') });
  await call('createService', { spec: spec('api') });
  const dup = await t.throwsAsync(call('createService', { spec: spec('web') }));
  t.is((dup as ShoalError).code, 'AlreadyExists');

  const list = async (filters: unknown) => (await call<{ services: { spec: { annotations: { name: string } } }[] }>('listServices', { filters })).services.map((s) => s.spec.annotations.name).sort();
  t.deepEqual(await list(undefined), ['api', 'web']);
  t.deepEqual(await list({ names: ['web'], namePrefixes: [], idPrefixes: [], labels: {} }), ['web']);
  t.deepEqual(await list({ names: [], namePrefixes: ['a'], idPrefixes: [], labels: {} }), ['api']);
  t.deepEqual(await list({ names: [], namePrefixes: [], idPrefixes: [web.id], labels: {} }), ['web']);
  t.deepEqual(await list({ names: [], namePrefixes: [], idPrefixes: [], labels: { tier: 'back' } }), ['api']);
  t.deepEqual(await list({ names: [], namePrefixes: [], idPrefixes: [], labels: { tier: '' } }), ['api', 'web']);

  const v1 = web.meta.version;
  const { service: updated } = await call<{ service: { meta: { version: number }; previousSpec: ServiceSpec } }>('updateService', {
    serviceId: web.id,
    serviceVersion: v1,
    spec: spec('web', { mode: { $case: 'replicated', replicated: { replicas: 5 } } }),
  });
  t.true(updated.meta.version > v1);
  t.deepEqual(updated.previousSpec.mode, { $case: 'replicated', replicated: { replicas: 2 } });
  const conflict = await t.throwsAsync(call('updateService', { serviceId: web.id, serviceVersion: v1, spec: spec('web') }));
  t.is((conflict as ShoalError).code, 'Conflict');

  const { service: scaled } = await call<{ service: { spec: ServiceSpec } }>('scaleService', { serviceId: web.id, replicas: 9 });
  t.deepEqual(scaled.spec.mode, { $case: 'replicated', replicated: { replicas: 9 } });
  const { service: rolled } = await call<{ service: { spec: ServiceSpec; updateStatus: { state: number } } }>('rollbackService', { serviceId: web.id, serviceVersion: 0 });
  t.deepEqual(rolled.spec.mode, { $case: 'replicated', replicated: { replicas: 2 } });
  const promote = await t.throwsAsync(call('promoteService', { serviceId: web.id }));
  t.is((promote as ShoalError).code, 'FailedPrecondition');

  await state.update((tx) => tx.create('tasks', { id: 't1', serviceId: web.id, slot: 1, nodeId: 'n1', desiredState: TaskState.RUNNING, networks: [], restartAttempt: 0 }));
  const { tasks } = await call<{ tasks: { id: string }[] }>('listTasks', { serviceIds: [web.id], nodeIds: ['n1'], desiredStates: [] });
  t.deepEqual(tasks.map((x) => x.id), ['t1']);
  await call('removeService', { serviceId: web.id });
  t.is(state.view((tx) => tx.get('tasks', 't1'))!.desiredState, TaskState.REMOVE);
  const gone = await t.throwsAsync(call('getService', { serviceId: web.id }));
  t.is((gone as ShoalError).code, 'NotFound');
});

test('an invalid spec is refused with INVALID_ARGUMENT naming the field path', async (t) => {
  const { call } = await setup(t);
  const bad = spec('web', { update: { parallelism: 1, failureAction: 0, maxFailureRatio: 1.5, order: 0 } });
  const err = (await t.throwsAsync(call('createService', { spec: bad }))) as ShoalError;
  t.is(err.code, 'InvalidArgument');
  t.is(err.field, 'update.max_failure_ratio');
  const err2 = (await t.throwsAsync(call('createService', { spec: spec('web', { task: { ...spec('web').task!, networks: [{ target: 'nope', aliases: [], addresses: [] }] } }) }))) as ShoalError;
  t.is(err2.field, 'task.networks[0].target');
  t.regex(err2.message, /network "nope" not found/);
});

test('networks, secrets (data never returned) and configs', async (t) => {
  const { call } = await setup(t);
  const { network } = await call<{ network: { id: string } }>('createNetwork', { spec: { annotations: { name: 'front', labels: {} }, ipam: { configs: [{ subnet: '10.0.1.0/24', range: '', gateway: '' }] }, attachable: false, internal: false, ipv6: false, ingress: false } });
  const overlap = (await t.throwsAsync(call('createNetwork', { spec: { annotations: { name: 'back', labels: {} }, ipam: { configs: [{ subnet: '10.0.0.0/16', range: '', gateway: '' }] }, attachable: false, internal: false, ipv6: false, ingress: false } }))) as ShoalError;
  t.is(overlap.field, 'ipam.configs[0].subnet');
  const { secret } = await call<{ secret: { id: string; spec: { data: Buffer } } }>('createSecret', { spec: { annotations: { name: 'pw', labels: {} }, data: Buffer.from('hunter2') } });
  t.is(secret.spec.data.length, 0);
  const { secrets } = await call<{ secrets: { spec: { data: Buffer } }[] }>('listSecrets', {});
  t.is(secrets[0]!.spec.data.length, 0);
  const { secret: got } = await call<{ secret: { spec: { data: Buffer } } }>('getSecret', { secretId: secret.id });
  t.is(got.spec.data.length, 0);
  await call('createConfig', { spec: { annotations: { name: 'cfg', labels: {} }, data: Buffer.from('x') } });
  const s = spec('web');
  s.task!.networks = [{ target: 'front', aliases: [], addresses: [] }];
  s.task!.container!.secrets = [{ secretId: '', secretName: 'pw' }];
  s.task!.container!.configs = [{ configId: '', configName: 'cfg' }];
  const { service } = await call<{ service: { spec: ServiceSpec } }>('createService', { spec: s });
  t.is(service.spec.task!.networks[0]!.target, network.id, 'network names resolve to ids');
  t.is(service.spec.task!.container!.secrets[0]!.secretId, secret.id);
  const inUse = (await t.throwsAsync(call('removeSecret', { secretId: secret.id }))) as ShoalError;
  t.is(inUse.code, 'FailedPrecondition');
  const netInUse = (await t.throwsAsync(call('removeNetwork', { networkId: network.id }))) as ShoalError;
  t.is(netInUse.code, 'FailedPrecondition');
});

test('nodes: availability, last manager, removal rules; join tokens and rotation', async (t) => {
  const { call, state } = await setup(t);
  const node = (id: string, role: NodeRole, st: NodeState) => ({ id, spec: { annotations: { name: '', labels: {} }, desiredRole: role, availability: 0 }, status: { state: st, message: '', addr: '' }, role, dataPathAddr: '' });
  await state.update((tx) => {
    tx.create('nodes', node('m1', NodeRole.MANAGER, NodeState.NODE_READY));
    tx.create('nodes', node('w1', NodeRole.WORKER, NodeState.NODE_READY));
  });
  const { node: w1 } = await call<{ node: { meta: { version: number } } }>('getNode', { nodeId: 'w1' });
  const { node: drained } = await call<{ node: { spec: { availability: number; annotations: { labels: Record<string, string> } } } }>('updateNode', { nodeId: 'w1', nodeVersion: w1.meta.version, spec: { annotations: { name: '', labels: { zone: 'a' } }, desiredRole: 0, availability: 2 } });
  t.is(drained.spec.availability, 2);
  t.deepEqual(drained.spec.annotations.labels, { zone: 'a' });
  const { node: m1 } = await call<{ node: { meta: { version: number } } }>('getNode', { nodeId: 'm1' });
  const last = (await t.throwsAsync(call('updateNode', { nodeId: 'm1', nodeVersion: m1.meta.version, spec: { desiredRole: 0, availability: 0 } }))) as ShoalError;
  t.is(last.code, 'FailedPrecondition');
  t.is(((await t.throwsAsync(call('removeNode', { nodeId: 'm1', force: true }))) as ShoalError).code, 'FailedPrecondition');
  t.is(((await t.throwsAsync(call('removeNode', { nodeId: 'w1', force: false }))) as ShoalError).code, 'FailedPrecondition');
  await call('removeNode', { nodeId: 'w1', force: true });
  const { cluster } = await call<{ cluster: { removedNodes: string[]; rootCa: { caKey: Buffer } } }>('getCluster', {});
  t.deepEqual(cluster.removedNodes, ['w1']);
  t.is(cluster.rootCa.caKey.length, 0);

  const { tokens, managerAddrs } = await call<{ tokens: { worker: string; manager: string }; managerAddrs: string[] }>('getJoinTokens', {});
  t.truthy(parseJoinToken(tokens.worker));
  t.regex(tokens.worker, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
  t.not(tokens.worker, tokens.manager);
  t.deepEqual(managerAddrs, ['127.0.0.1:4242']);
  const { tokens: rotated } = await call<{ tokens: { worker: string; manager: string } }>('rotateJoinToken', { worker: true, manager: false });
  t.not(rotated.worker, tokens.worker);
  t.is(rotated.manager, tokens.manager);
  t.is(parseJoinToken(rotated.worker)!.digest, parseJoinToken(tokens.worker)!.digest);
});

test('a follower forwards writes to the leader, or answers Unavailable with the leader address', async (t) => {
  const leader = await setup(t);
  const follower = await setup(t, { leader: { isLeader: () => false, leaderAddr: () => `127.0.0.1:${leader.port}` } });
  await follower.call('createService', { spec: spec('web') });
  t.is(leader.state.view((tx) => tx.all('services')).length, 1);
  t.is(follower.state.view((tx) => tx.all('services')).length, 0);
  const lonely = await setup(t, { leader: { isLeader: () => false, leaderAddr: () => '10.9.9.9:4242' }, forward: false });
  const err = (await t.throwsAsync(lonely.call('createService', { spec: spec('web') }))) as ShoalError;
  t.is(err.code, 'Unavailable');
  t.is(err.leader, '10.9.9.9:4242');
  // reads are served locally on a follower
  await t.notThrowsAsync(lonely.call('listServices', {}));
});
