// Three Managers in one process with real RaftNode drivers on 127.0.0.1 (level storage in temp
// dirs, real gRPC): the leader's loops converge a service, a follower's Control API forwards a
// create to the leader, the loops move to another manager when the leader stops, and a manager
// restarted from its data dir rebuilds the same store as the others.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient, createClient, ShoalError, TaskState, type Service, type Task } from '@shoal/api';
import { Manager, type ManagerOptions } from '../../src/manager.js';
import { jsonLogger, silentLogger } from '../../src/util/log.js';
import { FakeAgents, isRunning, serviceSpec, waitFor, workerNode } from './_fake-agent.js';
import { call, freePort } from './_managers.js';

test.serial('3 managers on raft: loops converge, followers forward, failover, restart rebuilds the store', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'shoal-mgr-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const logger = process.env['SHOAL_TEST_LOGS'] ? jsonLogger() : silentLogger;
  const opts = (i: number): ManagerOptions => ({
    nodeId: `mgr${i + 1}`,
    raftId: i + 1,
    clusterId: 'test-cluster',
    dataDir: join(root, `m${i + 1}`),
    advertiseAddr: addrs[i]!,
    listenAddr: addrs[i]!,
    mode: 'init',
    peers: addrs.map((addr, j) => ({ raftId: j + 1, addr })),
    heartbeatPeriodMs: 60_000,
    logger,
    raft: { tickMs: 50, electionTicks: 10, snapshotEvery: 25, snapshotKeep: 5, sync: false },
    loopRestartDelayMs: 200,
  });
  const managers: (Manager | undefined)[] = [];
  const clients: ControlClient[] = [];
  const live = (): Manager[] => managers.filter((m): m is Manager => m !== undefined);
  const leader = (): Manager | undefined => live().find((m) => m.leadership.current().leader);
  const agents = new FakeAgents(() => leader()?.state, () => Date.now());
  t.teardown(async () => {
    agents.stop();
    for (const c of clients) c.close();
    for (const m of live()) await m.stop().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });
  for (let i = 0; i < 3; i++) managers.push(new Manager(opts(i)));
  await Promise.all(live().map((m) => m.start()));
  for (const m of live()) m.state.subscribe(() => agents.kick());

  await waitFor('a leader running its loops with the cluster object', () => {
    const l = leader();
    return !!l && l.state.view((tx) => tx.all('cluster').length === 1 && !!tx.get('nodes', l.nodeId));
  }, { timeoutMs: 15_000 });
  const first = leader()!;
  t.is(first.leaderAddr(), addrs[first.raftId - 1]);
  await first.state.update((tx) => {
    for (const id of ['w1', 'w2', 'w3']) tx.create('nodes', workerNode(id));
  });

  // a follower's Control API forwards the create to the leader
  const follower = live().find((m) => m !== first)!;
  t.is(follower.leaderAddr(), addrs[first.raftId - 1], 'followers know the leader address');
  const fc = createClient(ControlClient, addrs[follower.raftId - 1]!);
  clients.push(fc);
  const { service } = await call<{ service: Service }>(fc, 'createService', { spec: serviceSpec('web', 6) });
  t.truthy(service.id);

  const runningOn = (m: Manager): Task[] => m.state.view((tx) => tx.tasksByService(service.id)).filter(isRunning);
  const poll = { timeoutMs: 20_000, step: () => agents.kick() };
  await waitFor('6 running tasks of web (on every manager)', () => live().every((m) => runningOn(m).length === 6), poll);
  t.deepEqual(runningOn(first).map((x) => x.slot).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
  t.regex(await first.metrics.text(), /shoal_raft_leader 1/);

  // stop the leader: another manager takes over the loops; the service stays converged
  await first.stop();
  managers[first.raftId - 1] = undefined;
  await waitFor('a new leader running its loops', () => {
    const l = leader();
    return !!l && l !== first && l.loops.runningTerm !== undefined;
  }, { ...poll, timeoutMs: 15_000 });
  const second = leader()!;
  t.is(runningOn(second).length, 6, 'still 6 running after the failover');
  const c2 = createClient(ControlClient, addrs[second.raftId - 1]!);
  clients.push(c2);
  await call(c2, 'scaleService', { serviceId: service.id, replicas: 4 });
  await waitFor('web scaled to 4 by the new leader', () => {
    const l = leader();
    return !!l && runningOn(l).length === 4 && l.state.view((tx) => tx.tasksByService(service.id)).filter((x) => x.desiredState <= TaskState.RUNNING).length === 4;
  }, poll);

  // restart the old leader from its data dir: its store is rebuilt and catches up
  const again = new Manager(opts(first.raftId - 1));
  managers[first.raftId - 1] = again;
  await again.start();
  again.state.subscribe(() => agents.kick());
  t.true(again.store.index > 0, 'store restored from the raft snapshot and log at start');
  await waitFor('all three stores byte-identical', () => {
    const ms = live();
    if (ms.length !== 3) return false;
    const snaps = ms.map((m) => Buffer.from(m.store.snapshot()));
    return snaps.every((s) => s.equals(snaps[0]!));
  }, { ...poll, last: () => live().map((m) => m.store.index) });
  t.is(runningOn(again).length, 4);
});
