// What the leader loops share: their dependencies, a coalescing pass runner, per-key wake timers,
// and the transactional application of orchestrator plans.
//
// Every loop follows SwarmKit's pattern: subscribe to the store's commits first, then read the
// full state, then react to commits. Passes are coalesced: commits arriving while a pass runs (or
// in the same turn of the event loop) are folded into the next pass. Every write starts with
// ctx.checkLeader() inside the transaction, so that nothing is proposed after a step-down.
import { ShoalError, type Task } from '@shoal/api';
import type { ManagerMetrics } from '../metrics.js';
import type { Plan } from '../orchestrator/plan.js';
import type { LoopContext } from '../leader-loops.js';
import type { Commit, ManagerState, WriteTx } from '../state/state.js';
import type { Clock, Timer } from '../util/clock.js';
import { errorMessage, type Logger } from '../util/log.js';

export interface LoopDeps {
  state: ManagerState;
  clock: Clock;
  newId: () => string;
  metrics?: ManagerMetrics;
  /** objects written per transaction by the batched loops (default 1,000) */
  batchSize?: number;
  /** transactions the orchestrator and the scheduler keep proposed at once (default 4) */
  inFlight?: number;
}

export const DEFAULT_BATCH = 1_000;
export const DEFAULT_IN_FLIGHT = 4;

export const isConflict = (err: unknown): boolean => err instanceof ShoalError && err.code === 'Conflict';

/** Split `xs` into chunks of at most `n`. */
export function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/**
 * Runs `pass` whenever kicked, never two at once; kicks during a pass cause one more pass.
 * A pass that throws anything but a Conflict fails the loop (`failed` rejects): LeaderLoops then
 * restarts it with a fresh watch and a full read. A Conflict just causes another pass.
 */
export class Pump {
  private wanted = false;
  private running = false;
  private fail: ((err: unknown) => void) | undefined;
  /** rejects when a pass fails; never resolves */
  readonly failed: Promise<never>;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly signal: AbortSignal,
    private readonly log: Logger,
  ) {
    this.failed = new Promise<never>((_, reject) => (this.fail = reject));
    this.failed.catch(() => undefined);
  }

  kick(): void {
    if (this.signal.aborted) return;
    this.wanted = true;
    if (!this.running) void this.loop();
  }

  private async loop(): Promise<void> {
    this.running = true;
    let conflicts = 0;
    try {
      while (this.wanted && !this.signal.aborted) {
        // let commits delivered in this turn pile up: one pass for all of them
        await new Promise<void>((r) => setImmediate(r));
        this.wanted = false;
        try {
          await this.pass();
          conflicts = 0;
        } catch (err) {
          if (this.signal.aborted) return;
          if (isConflict(err) && ++conflicts < 100) {
            this.log.debug('conflict; retrying on fresh state', { err: errorMessage(err) });
            this.wanted = true;
            continue;
          }
          this.fail?.(err);
          return;
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/** One timer per key on the injected clock; an earlier deadline replaces a later one. */
export class WakeTimers {
  private readonly timers = new Map<string, { at: number; timer: Timer }>();
  constructor(
    private readonly clock: Clock,
    private readonly onWake: (key: string) => void,
  ) {}

  at(key: string, ms: number | undefined): void {
    if (ms === undefined || !Number.isFinite(ms)) return;
    const cur = this.timers.get(key);
    if (cur && cur.at <= ms) return;
    cur?.timer.cancel();
    const timer = this.clock.setTimer(Math.max(0, ms - this.clock.now()), () => {
      this.timers.delete(key);
      this.onWake(key);
    });
    this.timers.set(key, { at: ms, timer });
  }

  clear(key: string): void {
    this.timers.get(key)?.timer.cancel();
    this.timers.delete(key);
  }

  cancelAll(): void {
    for (const t of this.timers.values()) t.timer.cancel();
    this.timers.clear();
  }
}

/** Subscribe, then hand every commit to `onCommit`; unsubscribes when the signal aborts. */
export function follow(state: ManagerState, signal: AbortSignal, onCommit: (c: Commit) => void): void {
  const unsubscribe = state.subscribe((c) => {
    if (!signal.aborted) onCommit(c);
  });
  signal.addEventListener('abort', unsubscribe, { once: true });
}

/** Resolves when the signal aborts; rejects when any of `failures` rejects first. */
export function untilAborted(ctx: LoopContext, ...failures: Promise<never>[]): Promise<void> {
  const aborted = new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  return Promise.race([aborted, ...failures]);
}

export const planIsEmpty = (p: Plan): boolean => p.create.length === 0 && p.update.length === 0 && p.delete.length === 0;

export const planSize = (p: Plan): number => p.create.length + p.update.length + p.delete.length;

/** Writes a plan into a transaction (deletes of tasks already gone are skipped). */
export function writePlan(tx: WriteTx, plan: Plan): void {
  for (const t of plan.create) tx.create('tasks', t);
  for (const t of plan.update) tx.update('tasks', t);
  for (const id of plan.delete) if (tx.get('tasks', id)) tx.delete('tasks', id);
}

/** A plan's tasks by service, for retries. */
export function servicesOf(plan: Plan, tasks: (id: string) => Task | undefined): Set<string> {
  const out = new Set<string>();
  for (const t of plan.create) out.add(t.serviceId);
  for (const t of plan.update) out.add(t.serviceId);
  for (const id of plan.delete) {
    const t = tasks(id);
    if (t) out.add(t.serviceId);
  }
  return out;
}
