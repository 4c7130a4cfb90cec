// Manager roles on a real raft (Managers in one process, level storage in temp dirs, gRPC on
// 127.0.0.1): a founding manager and two that join one at a time; the leader's role loop records
// every member's manager status; demotion takes a manager out of raft and records it a worker;
// promotion records it a manager again (its daemon then joins raft); a demotion or a forced
// removal that would lose quorum is refused; a live manager cannot be removed; a down one can be
// forced out; the leader demoting itself hands leadership over first; the last manager stays.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient, createClient, NodeRole, NodeState, RaftMemberStatus, ShoalError, type Node } from '@shoal/api';
import { Manager, type ManagerOptions } from '../../src/manager.js';
import { jsonLogger, silentLogger } from '../../src/util/log.js';
import { waitFor, workerNode } from './_fake-agent.js';
import { call, freePort } from './_managers.js';

test.serial('demote, promote, quorum refusals, forced removal of a down manager, self-demotion of the leader', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'shoal-roles-'));
  const addrs = [await freePort(), await freePort(), await freePort()].map((p) => `127.0.0.1:${p}`);
  const logger = process.env['SHOAL_TEST_LOGS'] ? jsonLogger() : silentLogger;
  const opts = (node: number, raftId: number, mode: 'init' | 'join'): ManagerOptions => ({
    nodeId: `mgr${node}`,
    raftId,
    clusterId: 'roles',
    dataDir: join(root, `m${node}-r${raftId}`),
    advertiseAddr: addrs[node - 1]!,
    listenAddr: addrs[node - 1]!,
    mode,
    peers: mode === 'init' ? [] : [{ raftId: 1, addr: addrs[0]! }],
    heartbeatPeriodMs: 60_000,
    logger,
    raft: { tickMs: 100, electionTicks: 10, sync: false },
    loopRestartDelayMs: 200,
  });
  const managers = new Map<string, Manager>(); // by node id
  const clients: ControlClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    for (const m of managers.values()) await m.stop().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });
  const leader = (): Manager | undefined => [...managers.values()].find((m) => m.leadership.current().leader);
  const node = (id: string): Node | undefined => leader()?.state.view((tx) => tx.get('nodes', id));
  const client = (m: Manager): ControlClient => {
    const c = createClient(ControlClient, m.raft ? addrs[Number(m.nodeId.slice(3)) - 1]! : '');
    clients.push(c);
    return c;
  };
  const setRole = async (c: ControlClient, id: string, role: NodeRole): Promise<void> => {
    const n = (await call<{ node: Node }>(c, 'getNode', { nodeId: id })).node;
    await call(c, 'updateNode', { nodeId: id, nodeVersion: n.meta!.version, spec: { ...n.spec, desiredRole: role } });
  };
  const voters = (m: Manager): number[] => m.raft!.status().confState.voters;

  // the founder, then two managers that join one at a time (their Node objects come from registration)
  const m1 = new Manager(opts(1, 1, 'init'));
  managers.set('mgr1', m1);
  await m1.start();
  await waitFor('mgr1 leading with its node object', () => leader() === m1 && !!node('mgr1'), { timeoutMs: 15_000 });
  for (const [i, id] of [[2, 'mgr2'], [3, 'mgr3']] as const) {
    await m1.state.update((tx) => tx.create('nodes', { ...workerNode(id), role: NodeRole.MANAGER, spec: { ...workerNode(id).spec!, desiredRole: NodeRole.MANAGER }, status: { state: NodeState.NODE_READY, message: '', addr: addrs[i - 1]! } }));
    await m1.addManager(i, addrs[i - 1]!);
    const m = new Manager(opts(i, i, 'join'));
    managers.set(id, m);
    await m.start();
    await waitFor(`raft voters including ${i} on every manager`, () => [...managers.values()].every((x) => voters(x).includes(i)), { timeoutMs: 15_000 });
  }
  t.deepEqual(voters(managers.get('mgr3')!), [1, 2, 3], 'the last joiner sees the founder too');
  await waitFor('manager status recorded for every manager', () => ['mgr1', 'mgr2', 'mgr3'].every((id) => node(id)?.managerStatus?.reachability === RaftMemberStatus.REACHABLE), {
    last: () => ['mgr1', 'mgr2', 'mgr3'].map((id) => node(id)?.managerStatus),
  });
  t.deepEqual(['mgr1', 'mgr2', 'mgr3'].map((id) => node(id)!.managerStatus!.raftId), [1, 2, 3]);
  const c1 = client(m1);

  // demote mgr3: out of raft (its manager learns it), recorded a worker
  const m3 = managers.get('mgr3')!;
  await setRole(c1, 'mgr3', NodeRole.WORKER);
  await waitFor('mgr3 out of raft and a worker', () => !voters(m1).includes(3) && node('mgr3')?.role === NodeRole.WORKER && !node('mgr3')?.managerStatus, { timeoutMs: 15_000 });
  t.regex(await m3.removed, /removed/);
  await m3.stop();
  managers.delete('mgr3');

  // promote it again: recorded a manager; its daemon joins raft under a new raft id
  await setRole(c1, 'mgr3', NodeRole.MANAGER);
  await waitFor('mgr3 recorded a manager again', () => node('mgr3')?.role === NodeRole.MANAGER, { timeoutMs: 10_000 });
  await m1.addManager(4, addrs[2]!);
  const m3b = new Manager(opts(3, 4, 'join'));
  managers.set('mgr3', m3b);
  await m3b.start();
  await waitFor('mgr3 a voter again with raft id 4', () => voters(m1).includes(4) && node('mgr3')?.managerStatus?.raftId === 4, { timeoutMs: 15_000 });
  await waitFor('mgr3 seeing voters 1, 2, 4', () => JSON.stringify(voters(m3b)) === '[1,2,4]', { timeoutMs: 10_000, last: () => voters(m3b) });

  // mgr2 goes down: demoting mgr3 would leave {1,2} with only 1 reachable
  const m2 = managers.get('mgr2')!;
  await m2.stop();
  managers.delete('mgr2');
  await waitFor('mgr2 unreachable', () => node('mgr2')?.managerStatus?.reachability === RaftMemberStatus.UNREACHABLE, { timeoutMs: 10_000 });
  const refused = await t.throwsAsync(setRole(c1, 'mgr3', NodeRole.WORKER), { instanceOf: ShoalError });
  t.is(refused!.code, 'FailedPrecondition');
  t.regex(refused!.message, /quorum/);
  t.deepEqual(voters(m1), [1, 2, 4], 'nothing changed');

  // a live manager cannot be removed, even forced; the down one can be forced out
  const live = await t.throwsAsync(call(c1, 'removeNode', { nodeId: 'mgr3', force: false }), { instanceOf: ShoalError });
  t.regex(live!.message, /demote/);
  const liveForced = await t.throwsAsync(call(c1, 'removeNode', { nodeId: 'mgr3', force: true }), { instanceOf: ShoalError });
  t.regex(liveForced!.message, /reachable manager/);
  const notForced = await t.throwsAsync(call(c1, 'removeNode', { nodeId: 'mgr2', force: false }), { instanceOf: ShoalError });
  t.is(notForced!.code, 'FailedPrecondition');
  await call(c1, 'removeNode', { nodeId: 'mgr2', force: true });
  t.deepEqual(voters(m1), [1, 4]);
  t.is(node('mgr2'), undefined);

  // the leader demotes itself: it hands leadership to mgr3 first, which takes it out of raft
  await setRole(c1, 'mgr1', NodeRole.WORKER);
  await waitFor('mgr3 leading a raft of one, mgr1 a worker', () => leader() === m3b && JSON.stringify(voters(m3b)) === '[4]' && node('mgr1')?.role === NodeRole.WORKER, {
    timeoutMs: 20_000,
    last: () => ({ leader: leader()?.nodeId, voters: voters(m3b), mgr1: node('mgr1')?.role }),
  });
  t.regex(await m1.removed, /removed/);

  // the last manager cannot be demoted
  const c3 = client(m3b);
  const last = await t.throwsAsync(setRole(c3, 'mgr3', NodeRole.WORKER), { instanceOf: ShoalError });
  t.is(last!.code, 'FailedPrecondition');
  t.regex(last!.message, /last manager/);
});
