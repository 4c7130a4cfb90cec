// A virtual clock for driver tests: timers fire only when advance() passes their time, in time
// order; random() is a seeded generator, so that a test replays its elections' timeouts.
import type { Clock, Timer } from '../../src/clock.js';

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  /** repeats every this many ms (0: once) */
  every: number;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Entry[] = [];
  private state: number;

  constructor(start = 1_700_000_000_000, seed = 1) {
    this.t = start;
    this.state = seed >>> 0 || 1;
  }

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): Timer {
    return this.add(Math.max(0, ms), fn, 0);
  }

  setRepeating(ms: number, fn: () => void): Timer {
    return this.add(Math.max(1, ms), fn, Math.max(1, ms));
  }

  random(): number {
    // xorshift32
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 2 ** 32;
  }

  /** moves time `ms` forward, firing every timer due meanwhile at its own time */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers = this.timers.filter((e) => !e.cancelled).sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.t = next.at;
      if (next.every > 0) {
        next.at += next.every;
        next.seq = this.seq++;
      } else {
        next.cancelled = true;
      }
      next.fn();
    }
    this.t = end;
  }

  private add(ms: number, fn: () => void, every: number): Timer {
    const e: Entry = { at: this.t + ms, seq: this.seq++, fn, every, cancelled: false };
    this.timers.push(e);
    return { cancel: () => void (e.cancelled = true) };
  }
}
