/**
 * Runs at most `limit` async operations at once; the rest wait in FIFO order, except that
 * `urgent` operations wait ahead of the others (still FIFO among themselves). The agent marks
 * starts urgent: starting a prepared container is quick and is what the task (and a rolling
 * update waiting for it) needs next, so it must not queue behind slow prepares of other tasks.
 */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly waitingUrgent: Array<() => void> = [];
  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`limit must be >= 1, got ${limit}`);
  }
  get running(): number {
    return this.active;
  }
  async run<T>(fn: () => Promise<T>, opts: { urgent?: boolean } = {}): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => (opts.urgent ? this.waitingUrgent : this.waiting).push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waitingUrgent.shift() ?? this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
