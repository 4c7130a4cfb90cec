// waitFor: poll a condition until it holds or a deadline passes; on timeout the error names
// what was awaited and the last thing observed (value or error), so a failing test says why.
import { inspect } from 'node:util';

export type Check<T> = boolean | { ok: boolean; observed?: unknown; value?: T };

export interface WaitOptions {
  /** poll interval (default 200 ms) */
  intervalMs?: number;
  signal?: AbortSignal;
}

export class WaitTimeoutError extends Error {
  constructor(
    readonly description: string,
    readonly timeoutMs: number,
    readonly lastObserved: unknown,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for: ${description}\n  last observed: ${show(lastObserved)}`);
    this.name = 'WaitTimeoutError';
  }
}

function show(v: unknown): string {
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  return inspect(v, { depth: 6, breakLength: 160, maxArrayLength: 50 });
}

/** Shorthand for a check result with what was seen. */
export function observed<T>(ok: boolean, seen: unknown, value?: T): Check<T> {
  return value === undefined ? { ok, observed: seen } : { ok, observed: seen, value };
}

export async function waitFor<T = unknown>(description: string, poll: () => Check<T> | Promise<Check<T>>, timeoutMs: number, opts: WaitOptions = {}): Promise<T | undefined> {
  const interval = opts.intervalMs ?? 200;
  const deadline = Date.now() + timeoutMs;
  let last: unknown = '(not polled yet)';
  for (;;) {
    if (opts.signal?.aborted) throw new Error(`aborted while waiting for: ${description}`);
    try {
      const r = await poll();
      if (typeof r === 'boolean') {
        last = r;
        if (r) return undefined;
      } else {
        last = 'observed' in r ? r.observed : r.value;
        if (r.ok) return r.value;
      }
    } catch (err) {
      last = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitTimeoutError(description, timeoutMs, last);
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, left)));
  }
}
