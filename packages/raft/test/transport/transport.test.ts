// RaftTransport between two nodes on loopback: batching, size limits, cluster id check,
// unreachable peers, broken vs quiet streams, reconnect.
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MessageType } from '../../src/core/types.js';
import { newMessage } from '../../src/core/message.js';
import { msg, startNode, waitFor } from './helpers.js';

test('messages queued together travel in one batch, in order', async (t) => {
  const a = await startNode(1);
  const b = await startNode(2);
  try {
    a.t.addPeer(2, b.addr);
    a.t.send([msg(1, 2, 0)]);
    await waitFor('first message at b', () => b.received.length === 1);
    const before = b.batches;
    a.t.send(Array.from({ length: 100 }, (_, i) => msg(1, 2, i + 1, 10)));
    await waitFor('100 messages at b', () => b.received.length === 101);
    t.is(b.batches - before, 1, 'coalesced into one batch');
    t.deepEqual(b.received.map((m) => m.index), Array.from({ length: 101 }, (_, i) => i));
    t.is(b.received[5]?.entries[0]?.data.byteLength, 10);
    t.is(b.received[5]?.from, 1);
  } finally {
    await a.close();
    await b.close();
  }
});

test('batches are split at the size limit; large snapshot chunks arrive intact', async (t) => {
  const a = await startNode(1, { maxBatchBytes: 10_000 });
  const b = await startNode(2);
  try {
    a.t.addPeer(2, b.addr);
    a.t.send(Array.from({ length: 20 }, (_, i) => msg(1, 2, i, 4000)));
    const chunk = new Uint8Array(200_000).map((_, i) => i & 0xff);
    a.t.send([
      newMessage({
        type: MessageType.Snapshot,
        from: 1,
        to: 2,
        term: 1,
        snapshot: { index: 10, term: 1, confState: { voters: [1, 2], learners: [3] } },
        snapshotData: chunk,
        snapshotOffset: 0,
        snapshotDone: true,
      }),
    ]);
    await waitFor('21 messages at b', () => b.received.length === 21);
    t.true(b.batches >= 10, `split into ${b.batches} batches`);
    const snap = b.received[20];
    t.deepEqual(snap?.snapshot, { index: 10, term: 1, confState: { voters: [1, 2], learners: [3] } });
    t.true(Buffer.from(snap?.snapshotData ?? []).equals(Buffer.from(chunk)));
    t.true(snap?.snapshotDone);
  } finally {
    await a.close();
    await b.close();
  }
});

test('batches from another cluster are refused', async (t) => {
  const a = await startNode(1, { clusterId: 'other' });
  const b = await startNode(2);
  try {
    a.t.addPeer(2, b.addr);
    a.t.send([msg(1, 2, 1)]);
    await waitFor('b refusing the batch', () => b.t.rejectedBatches > 0);
    t.is(b.received.length, 0);
  } finally {
    await a.close();
    await b.close();
  }
});

test('an unreachable peer is reported, and messages are delivered once it comes up', async (t) => {
  const b0 = await startNode(2);
  const port = b0.port;
  await b0.close(); // a free port with nothing listening
  const a = await startNode(1, { backoffInitialMs: 20, backoffMaxMs: 100 });
  let b: Awaited<ReturnType<typeof startNode>> | undefined;
  try {
    a.t.addPeer(2, `127.0.0.1:${port}`);
    a.t.send([msg(1, 2, 1)]);
    await waitFor('a reporting 2 unreachable', () => a.unreachable.includes(2));
    t.is(a.broken.length, 0, 'never connected, so not broken');
    b = await startNode(2, {}, port);
    const bb = b;
    await waitFor('delivery after the peer came up', () => {
      a.t.send([msg(1, 2, 7)]);
      return bb.received.some((m) => m.index === 7);
    });
    t.true(bb.received.every((m) => m.from === 1 && m.to === 2), 'only messages from 1 to 2 arrived');
  } finally {
    await a.close();
    await b?.close();
  }
});

test('a peer backing off is reconnected as soon as it is heard from, so answers to it get through', async (t) => {
  // 1's stream to 2 fails while 2 is down and backs off for a minute: without the reconnect on
  // hearing from 2, 1's answer to 2 below would be dropped until then
  const b0 = await startNode(2);
  const port = b0.port;
  await b0.close();
  const a = await startNode(1, { backoffInitialMs: 60_000, backoffMaxMs: 60_000 });
  let b: Awaited<ReturnType<typeof startNode>> | undefined;
  try {
    a.t.addPeer(2, `127.0.0.1:${port}`);
    a.t.send([msg(1, 2, 1)]);
    await waitFor('1 backing off from 2', () => a.t.peerState(2) === 'backoff');
    a.t.send([msg(1, 2, 2)]);
    t.is(a.t.peerState(2), 'backoff', 'still backing off: messages are dropped');
    b = await startNode(2, {}, port);
    b.t.addPeer(1, a.addr);
    b.t.send([msg(2, 1, 5)]); // 2 is back and speaks first (a restarted member's pre-vote)
    await waitFor('1 hearing from 2', () => a.received.some((m) => m.index === 5));
    a.t.send([msg(1, 2, 6)]); // 1's answer
    const bb = b;
    await waitFor("2 receiving 1's answer", () => bb.received.some((m) => m.index === 6), 5000);
    t.false(bb.received.some((m) => m.index === 2), 'what was sent while backing off was dropped, not replayed');
  } finally {
    await a.close();
    await b?.close();
  }
});

test('a bounded queue drops and reports unreachable when full', async (t) => {
  const a = await startNode(1, { maxQueue: 5 });
  const b = await startNode(2);
  try {
    a.t.addPeer(2, b.addr);
    a.t.send(Array.from({ length: 20 }, (_, i) => msg(1, 2, i))); // one tick: the queue holds 5
    t.true(a.unreachable.includes(2));
    await waitFor('the 5 queued messages', () => b.received.length === 5);
    t.deepEqual(b.received.map((m) => m.index), [0, 1, 2, 3, 4]);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a connected stream that breaks is reported; a quiet one is not', async (t) => {
  const a = await startNode(1);
  const b = await startNode(2);
  try {
    a.t.addPeer(2, b.addr);
    a.t.send([msg(1, 2, 1)]);
    await waitFor('a connected to b', () => a.t.peerState(2) === 'connected' && b.received.length === 1);
    await new Promise((r) => setTimeout(r, 200)); // quiet for a while: nothing reported
    t.deepEqual(a.broken, []);
    b.server.forceShutdown(); // connections reset
    await waitFor('a seeing its stream to b break', () => a.broken.length > 0);
    t.is(a.broken[0]?.id, 2);
  } finally {
    await a.close();
    await b.close();
  }
});

test('the receiver sees an inbound stream break when the sender process is SIGKILLed', async (t) => {
  const a = await startNode(1);
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=shoal-src', fileURLToPath(new URL('./kill-child.ts', import.meta.url)), a.addr], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('the child to connect', () => out.includes('connected'), 20_000);
    await waitFor('messages from the child', () => a.received.some((m) => m.from === 9));
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await waitFor('a seeing the stream from 9 break', () => a.broken.some((x) => x.id === 9), 3000);
    t.log(`broken reported ${Date.now() - killedAt} ms after SIGKILL`);
    t.is(a.broken.filter((x) => x.id === 9).length >= 1, true);
  } finally {
    child.kill('SIGKILL');
    await a.close();
  }
});
