// LeaderLoops: runs the leader-only loops (orchestrators, scheduler, heartbeat expiry, task
// reaper) while this manager leads, and stops them cleanly when it loses leadership. Each term
// gets its own AbortSignal; a loop must stop acting once it is aborted, and every write a loop
// makes goes through ctx.checkLeader() (and through store.update, which the raft proposer refuses
// on a follower), so that nothing keeps writing after a step-down.
import { setMaxListeners } from 'node:events';
import { ShoalError } from '@shoal/api';
import { realClock, sleep, type Clock } from './util/clock.js';
import { errorMessage, silentLogger, type Logger } from './util/log.js';

export interface LeadershipState {
  leader: boolean;
  term: number;
}

/** Where leadership comes from: the raft driver in production, a fake in tests. */
export interface LeadershipSource {
  current(): LeadershipState;
  /** Subscribe to changes; returns an unsubscribe function. */
  subscribe(cb: (s: LeadershipState) => void): () => void;
}

export interface LoopContext {
  readonly signal: AbortSignal;
  /** the term this run belongs to */
  readonly term: number;
  /** Throws Unavailable when this run's leadership is over (call before every write). */
  checkLeader(): void;
  readonly log: Logger;
}

export interface LeaderLoop {
  readonly name: string;
  /** Runs until ctx.signal aborts (resolving then) or fails (it is restarted after a backoff). */
  run(ctx: LoopContext): Promise<void>;
}

export interface LeaderLoopsOptions {
  clock?: Clock;
  logger?: Logger;
  /** delay before restarting a loop that failed while still leader */
  restartDelayMs?: number;
  /** called on each start/stop (metrics, tests) */
  onTransition?: (event: 'started' | 'stopped', term: number) => void;
}

interface Run {
  term: number;
  ctrl: AbortController;
  done: Promise<void>;
}

export class LeaderLoops {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly restartDelayMs: number;
  private run: Run | undefined;
  private unsubscribe: (() => void) | undefined;
  /** serialises start/stop so that a quick flap never runs two generations at once */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly source: LeadershipSource,
    private readonly loops: readonly LeaderLoop[],
    private readonly opts: LeaderLoopsOptions = {},
  ) {
    this.clock = opts.clock ?? realClock;
    this.log = (opts.logger ?? silentLogger).child({ component: 'leader-loops' });
    this.restartDelayMs = opts.restartDelayMs ?? 1000;
  }

  /** Start following leadership changes (and start the loops now if already leader). */
  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.source.subscribe((s) => this.onChange(s));
    this.onChange(this.source.current());
  }

  /** Stop following leadership and stop any running loops; resolves when they have returned. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.chain = this.chain.then(() => this.stopRun());
    await this.chain;
  }

  /** The term whose loops are running, if any. */
  get runningTerm(): number | undefined {
    return this.run?.term;
  }

  /** Resolves once every pending start/stop has been carried out. */
  settled(): Promise<void> {
    return this.chain;
  }

  private onChange(s: LeadershipState): void {
    this.chain = this.chain.then(async () => {
      const cur = this.run;
      if (s.leader && cur?.term === s.term) return;
      if (cur) await this.stopRun();
      if (s.leader && this.unsubscribe) this.startRun(s.term);
    });
  }

  private startRun(term: number): void {
    const ctrl = new AbortController();
    setMaxListeners(0, ctrl.signal); // every loop listens (several times) on the one signal of a run
    const signal = ctrl.signal;
    const checkLeader = (): void => {
      const now = this.source.current();
      if (signal.aborted || !now.leader || now.term !== term) {
        throw new ShoalError('Unavailable', `no longer the leader (term ${term})`);
      }
    };
    this.log.info('leadership gained; starting loops', { term, loops: this.loops.map((l) => l.name) });
    const done = Promise.all(
      this.loops.map(async (loop) => {
        const log = this.log.child({ component: loop.name, term });
        while (!signal.aborted) {
          try {
            await loop.run({ signal, term, checkLeader, log });
            if (!signal.aborted) log.warn('loop returned while still leader; restarting');
          } catch (err) {
            if (signal.aborted) break;
            log.error('loop failed; restarting', { err: errorMessage(err) });
          }
          await sleep(this.clock, this.restartDelayMs, signal);
        }
      }),
    ).then(() => undefined);
    this.run = { term, ctrl, done };
    this.opts.onTransition?.('started', term);
  }

  private async stopRun(): Promise<void> {
    const cur = this.run;
    if (!cur) return;
    this.log.info('leadership lost or stopping; stopping loops', { term: cur.term });
    cur.ctrl.abort(new ShoalError('Unavailable', `leadership of term ${cur.term} ended`));
    await cur.done;
    this.run = undefined;
    this.opts.onTransition?.('stopped', cur.term);
  }
}

/** A leadership source driven by hand (tests, single-manager setups without raft). */
export class ManualLeadership implements LeadershipSource {
  private state: LeadershipState;
  private readonly subs = new Set<(s: LeadershipState) => void>();
  constructor(initial: LeadershipState = { leader: false, term: 0 }) {
    this.state = { ...initial };
  }
  current(): LeadershipState {
    return { ...this.state };
  }
  subscribe(cb: (s: LeadershipState) => void): () => void {
    this.subs.add(cb);
    return () => void this.subs.delete(cb);
  }
  set(s: LeadershipState): void {
    this.state = { ...s };
    for (const cb of [...this.subs]) cb(this.current());
  }
}
