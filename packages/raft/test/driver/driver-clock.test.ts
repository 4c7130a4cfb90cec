// The driver takes its time from the clock it is given (RaftNodeOptions.clock): ticks, elections
// and the expiry of a ReadIndex request follow a virtual clock, not the wall clock.
import test from 'ava';
import { RaftError } from '../../src/core/types.js';
import { Cluster } from './cluster.js';
import { ManualClock } from './manual-clock.js';

/** advances `clock` a tick at a time, letting I/O run in between, until `cond` holds */
async function advanceUntil(clock: ManualClock, what: string, cond: () => boolean, stepMs: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms (real time) waiting for ${what}`);
    clock.advance(stepMs);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a ReadIndex request that no quorum answers fails after requestTimeoutMs of the node clock', async (t) => {
  const clock = new ManualClock();
  const tickMs = 20;
  const requestTimeoutMs = 5_000;
  const c = await Cluster.create(2, { clock, tickMs, requestTimeoutMs, sync: false });
  try {
    // nothing ticks until the clock moves: on wall time, 20 ms ticks would have elected a leader
    // within 10-20 ticks
    await new Promise((r) => setTimeout(r, 1_000));
    t.true(c.running().every((n) => n.term === 0), 'no election before the virtual clock advanced');

    await advanceUntil(clock, 'a leader that applied its term’s first entry', () => c.running().some((n) => n.isLeader && n.appliedIndex > 0), tickMs);
    const leader = c.running().find((n) => n.isLeader)!;
    const follower = c.running().find((n) => n !== leader)!;
    await c.stop(follower.id); // the leader of two voters has no quorum left

    const started = clock.now();
    let outcome: unknown;
    void leader.readIndex().then(
      (index) => (outcome = index),
      (err: unknown) => (outcome = err),
    );
    // up to just before the deadline the read waits (the leader steps down meanwhile: check quorum)
    await advanceUntil(clock, 'the clock just before the read deadline', () => clock.now() - started >= requestTimeoutMs - tickMs, tickMs);
    t.is(outcome, undefined, 'the read is still waiting before requestTimeoutMs elapsed');
    await advanceUntil(clock, 'the read to settle', () => outcome !== undefined, tickMs);
    t.true(outcome instanceof RaftError, `a RaftError, got ${String(outcome)}`);
    t.is((outcome as RaftError).code, 'Unavailable');
    t.regex((outcome as RaftError).message, /read index timed out/);
    t.true(clock.now() - started >= requestTimeoutMs && clock.now() - started <= requestTimeoutMs + 2 * tickMs, 'expired at the first tick past the deadline');
  } finally {
    await c.destroy();
  }
});

test('a ReadIndex on a node that knows no leader fails at once and leaves no request behind to expire', async (t) => {
  const clock = new ManualClock();
  const tickMs = 20;
  const requestTimeoutMs = 2_000;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  const c = await Cluster.create(2, { clock, tickMs, requestTimeoutMs, sync: false });
  try {
    const node = c.running()[0]!;
    const err = await t.throwsAsync(node.readIndex());
    t.true(err instanceof RaftError, `a RaftError, got ${String(err)}`);
    // past the request deadline (and through an election): nothing that was registered for the
    // refused read may reject later, with nobody listening
    const until = clock.now() + requestTimeoutMs + 5 * tickMs;
    await advanceUntil(clock, 'the refused read’s deadline to pass', () => clock.now() >= until, tickMs);
    await new Promise((r) => setTimeout(r, 50));
    t.deepEqual(unhandled.map(String), [], 'no unhandled rejection');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await c.destroy();
  }
});
