// The log broker: subscriptions resolved into the nodes holding the tasks, messages merged, and
// the end of a subscription (all publishers closed, a node gone, the client gone, a timeout).
// Then the gRPC services: a follower forwards to the leader; a node whose streams break ends a
// follow subscription with UNAVAILABLE.
import test from 'ava';
import {
  bindServer,
  createClient,
  createServer,
  grpc,
  LogBrokerClient,
  LogsClient,
  LogStream,
  NodeState,
  ShoalError,
  TaskState,
  type LogMessage,
  type SubscribeLogsMessage,
  type SubscribeLogsRequest,
  type SubscriptionMessage,
} from '@shoal/api';
import { LogBroker, type LogSink } from '../src/logs/broker.js';
import { LogsServer } from '../src/logs/server.js';
import { MemoryState } from '../src/state/memory-state.js';
import { VirtualClock } from '../src/util/clock.js';
import { service } from './orchestrator/_harness.js';
import { node, running } from './scheduler/_fixtures.js';

async function setup() {
  const clock = new VirtualClock();
  const state = new MemoryState(clock);
  await state.update((tx) => {
    tx.create('services', service({ id: 'web' }));
    tx.create('services', service({ id: 'db' }));
    for (const n of ['n1', 'n2', 'n3']) tx.create('nodes', node(n));
    tx.create('tasks', running('w1', 'n1', { serviceId: 'web', slot: 1 }));
    tx.create('tasks', running('w2', 'n2', { serviceId: 'web', slot: 2 }));
    tx.create('tasks', running('w3', 'n1', { serviceId: 'web', slot: 3 }));
    tx.create('tasks', running('d1', 'n2', { serviceId: 'db', slot: 1 }));
    // an old task of web on n3, long finished
    tx.create('tasks', running('w0', 'n3', { serviceId: 'web', slot: 1, state: TaskState.SHUTDOWN, desired: TaskState.SHUTDOWN }));
  });
  let n = 0;
  const broker = new LogBroker({ state, clock, newId: () => `sub${++n}`, publisherTimeoutMs: 10_000 });
  const heard = new Map<string, SubscriptionMessage[]>();
  const stops = new Map<string, () => void>();
  const listen = (nodeId: string) => {
    heard.set(nodeId, []);
    stops.set(nodeId, broker.listen(nodeId, (m) => heard.get(nodeId)!.push(m)));
  };
  return { clock, state, broker, heard, stops, listen };
}

function sink() {
  const got: LogMessage[] = [];
  let ended: { err: ShoalError | undefined } | undefined;
  const s: LogSink = {
    write: (m) => got.push(...m.messages),
    end: (err) => {
      if (ended) throw new Error('ended twice');
      ended = { err };
    },
  };
  return { s, got, ended: () => ended };
}

const req = (sel: { serviceIds?: string[]; taskIds?: string[]; nodeIds?: string[] }, follow = false, tail = -1): SubscribeLogsRequest => ({
  selector: { serviceIds: sel.serviceIds ?? [], taskIds: sel.taskIds ?? [], nodeIds: sel.nodeIds ?? [] },
  options: { streams: [], follow, tail, since: undefined },
});

const line = (nodeId: string, taskId: string, text: string, stream = LogStream.STDOUT): LogMessage => ({
  context: { serviceId: 'web', nodeId, taskId },
  timestamp: '2026-01-01T00:00:00Z',
  stream,
  data: Buffer.from(text + '\n'),
});
const texts = (ms: LogMessage[]) => ms.map((m) => m.data.toString().trim()).sort();

test('a service subscription asks each node for its own tasks only, merges them, ends when all closed', async (t) => {
  const { broker, heard, listen } = await setup();
  listen('n1');
  listen('n2');
  listen('n3');
  const out = sink();
  broker.subscribe(req({ serviceIds: ['web'] }, false, 10), out.s);
  t.deepEqual(heard.get('n1')!.map((m) => [...m.selector!.taskIds].sort()), [['w1', 'w3']]);
  t.deepEqual(heard.get('n2')!.map((m) => m.selector!.taskIds), [['w2']]);
  t.is(heard.get('n2')![0]!.options!.tail, 10);
  // n3 holds only the old task w0 but it is connected: asked too (its container may still be there)
  t.deepEqual(heard.get('n3')!.map((m) => m.selector!.taskIds), [['w0']]);
  const id = (n: string) => heard.get(n)![0]!.id;
  t.is(new Set(['n1', 'n2', 'n3'].map(id)).size, 3, 'one publication id per node');
  broker.publish({ subscriptionId: id('n1'), nodeId: 'n1', messages: [], close: false });
  broker.publish({ subscriptionId: id('n1'), nodeId: 'n1', messages: [line('n1', 'w1', 'a'), line('n1', 'w3', 'b')], close: false });
  // a line of a task the subscription did not ask for is dropped
  broker.publish({ subscriptionId: id('n2'), nodeId: 'n2', messages: [line('n2', 'w2', 'c'), line('n2', 'd1', 'db line')], close: true });
  broker.publish({ subscriptionId: id('n3'), nodeId: 'n3', messages: [], close: true });
  t.is(out.ended(), undefined);
  broker.publish({ subscriptionId: id('n1'), nodeId: 'n1', messages: [], close: true });
  t.deepEqual(texts(out.got), ['a', 'b', 'c']);
  t.deepEqual(out.ended(), { err: undefined });
  t.is(broker.subscriptionCount, 0);
});

test('a task subscription asks only that task’s node; a node not asked cannot publish into it', async (t) => {
  const { broker, heard, listen } = await setup();
  listen('n1');
  listen('n2');
  const out = sink();
  broker.subscribe(req({ taskIds: ['w2'] }), out.s);
  t.is(heard.get('n1')!.length, 0);
  const id = heard.get('n2')![0]!.id;
  broker.publish({ subscriptionId: id, nodeId: 'n1', messages: [line('n1', 'w2', 'forged')], close: true });
  broker.publish({ subscriptionId: id, nodeId: 'n2', messages: [line('n2', 'w2', 'real')], close: true });
  t.deepEqual(texts(out.got), ['real']);
  t.deepEqual(out.ended(), { err: undefined });
});

test('without follow, a node with a live task that is not connected: the others are streamed, then UNAVAILABLE names it', async (t) => {
  const { broker, heard, listen } = await setup();
  listen('n1');
  const out = sink();
  broker.subscribe(req({ serviceIds: ['web'] }), out.s);
  const id = heard.get('n1')![0]!.id;
  broker.publish({ subscriptionId: id, nodeId: 'n1', messages: [line('n1', 'w1', 'a')], close: true });
  t.deepEqual(texts(out.got), ['a']);
  const err = out.ended()?.err;
  t.is(err?.code, 'Unavailable');
  t.regex(err!.message, /node n2 \(host-n2\) is not connected/);
  // n3 only holds history: no complaint about it
  t.notRegex(err!.message, /n3/);
});

test('with follow, a node whose stream breaks ends the subscription at once; the others are told to stop', async (t) => {
  const { broker, heard, listen, stops } = await setup();
  listen('n1');
  listen('n2');
  const out = sink();
  broker.subscribe(req({ serviceIds: ['web'] }, true), out.s);
  const id = heard.get('n1')![0]!.id;
  broker.publish({ subscriptionId: id, nodeId: 'n1', messages: [line('n1', 'w1', 'a')], close: false });
  broker.publish({ subscriptionId: heard.get('n2')![0]!.id, nodeId: 'n2', messages: [line('n2', 'w2', 'b')], close: false });
  stops.get('n2')!();
  const err = out.ended()?.err;
  t.is(err?.code, 'Unavailable');
  t.regex(err!.message, /node n2 \(host-n2\) stopped publishing: its connection to the manager closed/);
  t.deepEqual(heard.get('n1')!.at(-1), { id, selector: undefined, options: undefined, close: true });
  t.deepEqual(texts(out.got), ['a', 'b']);
  t.is(broker.subscriptionCount, 0);
});

test('with follow, the store marking a node DOWN ends the subscription', async (t) => {
  const { broker, state, listen } = await setup();
  listen('n1');
  listen('n2');
  const out = sink();
  broker.subscribe(req({ serviceIds: ['web'] }, true), out.s);
  await state.update((tx) => {
    const n = tx.get('nodes', 'n1')!;
    tx.update('nodes', { ...n, status: { state: NodeState.NODE_DOWN, message: 'heartbeat failure', addr: '' } });
  });
  t.regex(out.ended()?.err?.message ?? '', /node n1 \(host-n1\) stopped publishing: it is down \(heartbeat failure\)/);
});

test('a publication that ends without close loses its node; a node that never answers times out', async (t) => {
  const { broker, heard, listen, clock } = await setup();
  listen('n1');
  listen('n2');
  const out = sink();
  broker.subscribe(req({ serviceIds: ['web'] }), out.s);
  const id = heard.get('n1')![0]!.id;
  broker.publish({ subscriptionId: id, nodeId: 'n1', messages: [line('n1', 'w1', 'a')], close: false });
  broker.publicationEnded(id, 'n1', 'its publication stream broke');
  t.is(out.ended(), undefined); // n2 has not answered yet
  clock.advance(10_000);
  const err = out.ended()?.err;
  t.regex(err?.message ?? '', /node n1 .*stream broke; node n2 .*did not answer within 10000 ms/);
});

test('the client going away tells the nodes to stop; later lines are ignored', async (t) => {
  const { broker, heard, listen } = await setup();
  listen('n1');
  const out = sink();
  const cancel = broker.subscribe(req({ taskIds: ['w1'] }, true), out.s);
  const id = heard.get('n1')![0]!.id;
  cancel();
  t.true(heard.get('n1')!.at(-1)!.close);
  broker.publish({ subscriptionId: id, nodeId: 'n1', messages: [line('n1', 'w1', 'late')], close: false });
  t.is(out.got.length, 0);
  t.is(out.ended(), undefined);
  t.is(broker.subscriptionCount, 0);
});

test('following a service: a task that starts running later is asked for too (all its lines); not without follow', async (t) => {
  const { broker, state, heard, listen } = await setup();
  listen('n1');
  listen('n2');
  const out = sink();
  const once = sink();
  broker.subscribe(req({ serviceIds: ['web'] }, true, 1), out.s);
  broker.subscribe(req({ serviceIds: ['web'] }, false, 1), once.s);
  t.is(heard.get('n2')!.length, 2);
  await state.update((tx) => tx.create('tasks', running('w4', 'n2', { serviceId: 'web', slot: 4, state: TaskState.STARTING })));
  t.is(heard.get('n2')!.length, 2, 'not before it runs');
  await state.update((tx) => tx.update('tasks', { ...tx.get('tasks', 'w4')!, status: { state: TaskState.RUNNING, message: '', err: '', health: 0, appliedBy: '' } }));
  await state.update((tx) => tx.create('tasks', running('d2', 'n2', { serviceId: 'db', slot: 2 })));
  const asks = heard.get('n2')!;
  t.is(asks.length, 3, 'asked once, for the follow only, not for another service');
  t.deepEqual(asks[2]!.selector!.taskIds, ['w4']);
  t.is(asks[2]!.options!.tail, -1);
  t.true(asks[2]!.options!.follow);
  broker.publish({ subscriptionId: asks[2]!.id, nodeId: 'n2', messages: [line('n2', 'w4', 'new task')], close: false });
  t.deepEqual(texts(out.got), ['new task']);
  t.is(once.got.length, 0);
});

test('bad selectors are refused; a subscription with nothing to ask ends at once', async (t) => {
  const { broker, state } = await setup();
  t.throws(() => broker.subscribe(req({}), sink().s), { message: /needs a service, task or node id/ });
  t.throws(() => broker.subscribe(req({ serviceIds: ['nope'] }), sink().s), { message: 'service nope not found' });
  t.throws(() => broker.subscribe(req({ taskIds: ['nope'] }), sink().s), { message: 'task nope not found' });
  await state.update((tx) => tx.create('services', service({ id: 'empty' })));
  const out = sink();
  broker.subscribe(req({ serviceIds: ['empty'] }, true), out.s);
  t.deepEqual(out.ended(), { err: undefined });
});

// ---------------------------------------------------------------- over gRPC

async function grpcSetup(t: { teardown(fn: () => unknown): void }) {
  const env = await setup();
  const leaderServer = createServer();
  const leaderLogs = new LogsServer(env.broker, { isLeader: () => true, leaderAddr: () => undefined });
  leaderLogs.register(leaderServer);
  const leaderAddr = `127.0.0.1:${await bindServer(leaderServer, '127.0.0.1:0')}`;
  // a follower (its own broker knows no node) that forwards to the leader
  const followerServer = createServer();
  const followerLogs = new LogsServer(new LogBroker({ state: env.state, newId: () => 'x' }), { isLeader: () => false, leaderAddr: () => leaderAddr });
  followerLogs.register(followerServer);
  const followerAddr = `127.0.0.1:${await bindServer(followerServer, '127.0.0.1:0')}`;
  const clients: { close(): void }[] = [];
  t.teardown(() => {
    for (const c of clients) c.close();
    leaderLogs.close();
    followerLogs.close();
    leaderServer.forceShutdown();
    followerServer.forceShutdown();
  });
  /** A fake agent: publishes `lines` for every task asked, closes unless `follow` keeps it open. */
  const agent = (nodeId: string, lines: string[]) => {
    const client = createClient(LogBrokerClient, leaderAddr);
    clients.push(client);
    const call = client.listenSubscriptions({ nodeId });
    call.on('error', () => {});
    call.on('data', (m: SubscriptionMessage) => {
      if (m.close) return;
      const pub = client.publishLogs(() => {});
      pub.write({ subscriptionId: m.id, nodeId, messages: [], close: false });
      for (const taskId of m.selector!.taskIds) {
        pub.write({ subscriptionId: m.id, nodeId, messages: lines.map((l) => line(nodeId, taskId, `${taskId} ${l}`)), close: false });
      }
      if (!m.options!.follow) {
        pub.write({ subscriptionId: m.id, nodeId, messages: [], close: true });
        pub.end();
      }
    });
    return { call, client };
  };
  const subscribe = (addr: string, r: SubscribeLogsRequest, onData?: (m: SubscribeLogsMessage) => void) => {
    const client = createClient(LogsClient, addr);
    clients.push(client);
    const got: LogMessage[] = [];
    const done = new Promise<ShoalError | undefined>((resolve) => {
      const s = client.subscribeLogs(r);
      s.on('data', (m: SubscribeLogsMessage) => {
        got.push(...m.messages);
        onData?.(m);
      });
      s.on('error', (e: grpc.ServiceError) => resolve(ShoalError.fromGrpc(e)));
      s.on('end', () => resolve(undefined));
    });
    return { got, done };
  };
  const until = async (what: string, cond: () => boolean) => {
    const end = Date.now() + 20_000;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { ...env, leaderAddr, followerAddr, agent, subscribe, until };
}

test('gRPC: a subscription through a follower is forwarded to the leader and ends OK', async (t) => {
  const g = await grpcSetup(t);
  g.agent('n1', ['one', 'two']);
  g.agent('n2', ['three']);
  await g.until('both agents listening', () => g.broker.listenerCount === 2);
  const s = g.subscribe(g.followerAddr, req({ serviceIds: ['web'] }));
  t.is(await s.done, undefined);
  t.deepEqual(texts(s.got), ['w1 one', 'w1 two', 'w2 three', 'w3 one', 'w3 two']);
});

test('gRPC: a node killed mid-follow ends the client stream with UNAVAILABLE naming it', async (t) => {
  const g = await grpcSetup(t);
  g.agent('n1', ['one']);
  const n2 = g.agent('n2', ['two']);
  await g.until('both agents listening', () => g.broker.listenerCount === 2);
  const s = g.subscribe(g.followerAddr, req({ serviceIds: ['web'] }, true));
  await g.until('lines from both nodes', () => texts(s.got).includes('w2 two') && texts(s.got).includes('w1 one'));
  n2.client.close(); // the agent's process dies: its streams break
  n2.call.cancel();
  const err = await s.done;
  t.is(err?.code, 'Unavailable');
  t.regex(err!.message, /incomplete logs: node n2 \(host-n2\) stopped publishing/);
});

test('gRPC: a bad selector reaches the client as its error', async (t) => {
  const g = await grpcSetup(t);
  const s = g.subscribe(g.leaderAddr, req({ serviceIds: ['nope'] }));
  const err = await s.done;
  t.is(err?.code, 'NotFound');
  t.is(err?.message, 'service nope not found');
});
