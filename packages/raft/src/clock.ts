// Time and randomness for the raft driver, its transport and the KV service. Everything there that
// reads the time, waits or draws a random number goes through a Clock, so that a test can drive
// time by hand; realClock is the one implementation on real time (as in the agent's clock.ts).
// The core (core/) takes none of this: it counts ticks, and is handed a randInt.

export interface Timer {
  cancel(): void;
}

export interface TimerOptions {
  /** the timer does not keep the process alive (Node's unref) */
  unref?: boolean;
}

export interface Clock {
  /** Milliseconds since the epoch (gRPC deadlines are computed from it). */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds (or later). */
  setTimer(ms: number, fn: () => void, opts?: TimerOptions): Timer;
  /** Runs `fn` every `ms` milliseconds until cancelled. */
  setRepeating(ms: number, fn: () => void, opts?: TimerOptions): Timer;
  /** A uniformly distributed number in [0, 1). */
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn, opts) {
    const t = setTimeout(fn, Math.max(0, ms));
    if (opts?.unref) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  setRepeating(ms, fn, opts) {
    const t = setInterval(fn, ms);
    if (opts?.unref) t.unref();
    return { cancel: () => clearInterval(t) };
  },
  random: () => Math.random(),
};

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(ms, resolve));
}
