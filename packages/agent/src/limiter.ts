/**
 * Runs at most `limit` async operations at once; the rest wait, and a freed place goes to the
 * waiting operation of the highest priority (FIFO among equal ones).
 *
 * The agent's priorities (see PRIORITY): starts are urgent (starting a prepared container is quick
 * and is what the task, and a rolling update waiting for it, needs next, so it must not queue behind
 * slow prepares of other tasks); then prepares; last the removal of stopped containers, which
 * nothing waits for.
 */
export const PRIORITY = { urgent: 2, normal: 1, background: 0 } as const;

export type Priority = number;

interface Waiter {
  priority: Priority;
  go: () => void;
}

export class Limiter {
  private active = 0;
  private readonly waiting: Waiter[] = [];
  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`limit must be >= 1, got ${limit}`);
  }
  get running(): number {
    return this.active;
  }
  get queued(): number {
    return this.waiting.length;
  }
  async run<T>(fn: () => Promise<T>, opts: { urgent?: boolean; priority?: Priority } = {}): Promise<T> {
    const priority = opts.priority ?? (opts.urgent ? PRIORITY.urgent : PRIORITY.normal);
    if (this.active >= this.limit) await new Promise<void>((go) => this.waiting.push({ priority, go }));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.takeNext();
      if (next) next.go();
      else this.active--;
    }
  }

  private takeNext(): Waiter | undefined {
    // waiters are in arrival order: the first of the highest priority wins
    let best = -1;
    let bestPriority = -Infinity;
    for (let i = 0; i < this.waiting.length; i++) {
      const w = this.waiting[i]!;
      const p = w.priority;
      if (p > bestPriority) {
        best = i;
        bestPriority = p;
      }
    }
    return best < 0 ? undefined : this.waiting.splice(best, 1)[0];
  }
}
