import test from 'ava';
import { isShoalError } from '@shoal/api';
import { LeaderLoops, ManualLeadership, type LeaderLoop, type LoopContext } from '../src/leader-loops.js';
import { VirtualClock, sleep } from '../src/util/clock.js';

/** A loop that "writes" every virtual 100 ms through ctx.checkLeader(), recording the term. */
function writerLoop(clock: VirtualClock, writes: number[], refused: number[]): LeaderLoop {
  return {
    name: 'writer',
    async run(ctx: LoopContext) {
      while (!ctx.signal.aborted) {
        await sleep(clock, 100, ctx.signal);
        try {
          ctx.checkLeader();
          writes.push(ctx.term);
        } catch (err) {
          if (isShoalError(err, 'Unavailable')) refused.push(ctx.term);
        }
      }
    },
  };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

test('loops run only while leader and stop on step-down', async (t) => {
  const clock = new VirtualClock();
  const lead = new ManualLeadership();
  const writes: number[] = [];
  const refused: number[] = [];
  const events: string[] = [];
  const loops = new LeaderLoops(lead, [writerLoop(clock, writes, refused)], { clock, onTransition: (e, term) => events.push(`${e}:${term}`) });
  loops.start();
  await loops.settled();
  clock.advance(500);
  t.deepEqual(writes, [], 'a follower runs no loops');

  lead.set({ leader: true, term: 2 });
  await loops.settled();
  t.is(loops.runningTerm, 2);
  for (let i = 0; i < 3; i++) {
    clock.advance(100);
    await tick();
  }
  t.deepEqual(writes, [2, 2, 2]);

  lead.set({ leader: false, term: 3 });
  await loops.settled();
  t.is(loops.runningTerm, undefined);
  const before = writes.length;
  for (let i = 0; i < 5; i++) {
    clock.advance(100);
    await tick();
  }
  t.is(writes.length, before, 'no write after step-down');

  lead.set({ leader: true, term: 5 });
  await loops.settled();
  clock.advance(100);
  await tick();
  t.deepEqual(writes.slice(before), [5]);
  await loops.stop();
  t.deepEqual(events, ['started:2', 'stopped:2', 'started:5', 'stopped:5']);
  t.is(clock.pending, 0, 'no timer left behind');
});

test('checkLeader refuses as soon as leadership moves, even before the loop is aborted', async (t) => {
  const lead = new ManualLeadership({ leader: true, term: 7 });
  let ctx: LoopContext | undefined;
  const loops = new LeaderLoops(lead, [
    {
      name: 'capture',
      run: (c) => {
        ctx = c;
        return new Promise((resolve) => c.signal.addEventListener('abort', () => resolve()));
      },
    },
  ]);
  loops.start();
  await loops.settled();
  const first = ctx!;
  t.notThrows(() => first.checkLeader());
  // a new term while still leader (re-election of this node) also ends the old run
  lead.set({ leader: true, term: 8 });
  const err = t.throws(() => first.checkLeader());
  t.true(isShoalError(err, 'Unavailable'));
  await loops.settled();
  t.true(first.signal.aborted);
  t.is(loops.runningTerm, 8);
  t.not(ctx, first);
  t.notThrows(() => ctx!.checkLeader());
  await loops.stop();
});

test('a failing loop is restarted after a delay while still leader, not after step-down', async (t) => {
  const clock = new VirtualClock();
  const lead = new ManualLeadership({ leader: true, term: 1 });
  let runs = 0;
  const loops = new LeaderLoops(
    lead,
    [
      {
        name: 'flaky',
        run: async () => {
          runs++;
          throw new Error('boom');
        },
      },
    ],
    { clock, restartDelayMs: 1000 },
  );
  loops.start();
  await loops.settled();
  await tick();
  t.is(runs, 1);
  clock.advance(1000);
  await tick();
  t.is(runs, 2);
  lead.set({ leader: false, term: 2 });
  await loops.settled();
  clock.advance(5000);
  await tick();
  t.is(runs, 2);
  await loops.stop();
});

test('a quick flap never runs two generations at once', async (t) => {
  const lead = new ManualLeadership();
  let active = 0;
  let maxActive = 0;
  const loops = new LeaderLoops(lead, [
    {
      name: 'slow-stop',
      run: (c) =>
        new Promise((resolve) => {
          active++;
          maxActive = Math.max(maxActive, active);
          c.signal.addEventListener('abort', () => setImmediate(() => (active--, resolve())));
        }),
    },
  ]);
  loops.start();
  for (let term = 1; term <= 6; term++) lead.set({ leader: term % 2 === 1, term });
  lead.set({ leader: true, term: 7 });
  await loops.settled();
  t.is(maxActive, 1);
  t.is(loops.runningTerm, 7);
  await loops.stop();
  t.is(active, 0);
});
