// Change notification. Every applied entry produces one event per changed object, in entry order,
// then one commit event; watchers see entries in log order.
//
// Delivery never blocks a commit: apply appends to each watcher's in-memory queue. The queue is
// bounded (maxQueue events, default 100,000): a watcher that falls further behind is closed with
// ShoalError('Unavailable') and its queue dropped. Its consumer must then re-read the state
// (`store.viewAndWatch()`) and carry on from there, which is what a leader change requires anyway.
import { ShoalError } from '@shoal/api';
import { KIND_POS, type Kind, type StoreObjects } from './schema.js';

export type ObjectAction = 'create' | 'update' | 'delete';

export type ObjectEvent<K extends Kind = Kind> = {
  [P in K]: {
    action: ObjectAction;
    kind: P;
    /** the object after the change (for delete: the deleted object) */
    object: StoreObjects[P];
    /** the object before the change (update only) */
    oldObject?: StoreObjects[P] | undefined;
    /** log index of the entry that made the change (= object.meta.version, except for deletes) */
    index: number;
  };
}[K];

export interface CommitEvent {
  action: 'commit';
  /** log index of the applied entry */
  index: number;
  /** number of object events of this entry (whether or not this watcher's filter kept them) */
  changes: number;
}

export type StoreEvent = ObjectEvent | CommitEvent;

export interface WatchOptions {
  /** only object events of these kinds (default: all) */
  kinds?: readonly Kind[];
  /** only object events for which this returns true (called inside apply: keep it cheap and pure) */
  filter?: (event: ObjectEvent) => boolean;
  /** deliver commit events (default true) */
  commits?: boolean;
  /** close the watcher with an error when more than this many events are waiting (default 100,000) */
  maxQueue?: number;
}

export const DEFAULT_MAX_QUEUE = 100_000;

/**
 * One subscription. Consume it as an async iterable of events (`for await (const e of w)`), in
 * batches (`for await (const batch of w.batches())`, cheaper), or synchronously with `poll()`.
 * `close()` (or leaving a for-await loop) unsubscribes.
 */
export class Watcher implements AsyncIterable<StoreEvent> {
  private queue: StoreEvent[] = [];
  private head = 0;
  private waiter: (() => void) | null = null;
  private failure: ShoalError | null = null;
  private isClosed = false;
  private readonly kindMask: number;
  private readonly filter: ((e: ObjectEvent) => boolean) | undefined;
  private readonly commits: boolean;
  private readonly maxQueue: number;

  constructor(
    opts: WatchOptions,
    private readonly onClose: (w: Watcher) => void,
  ) {
    this.kindMask = opts.kinds ? opts.kinds.reduce((m, k) => m | (1 << KIND_POS[k]), 0) : -1;
    this.filter = opts.filter;
    this.commits = opts.commits ?? true;
    this.maxQueue = opts.maxQueue ?? DEFAULT_MAX_QUEUE;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The error the watcher was closed with (overflow or store restore), if any. */
  get error(): ShoalError | null {
    return this.failure;
  }

  /** Events waiting to be consumed. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** @internal called by the store for each applied entry. */
  deliver(events: readonly ObjectEvent[], commit: CommitEvent): void {
    if (this.isClosed) return;
    const q = this.queue;
    const mask = this.kindMask;
    const filter = this.filter;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if ((mask & (1 << KIND_POS[e.kind])) === 0) continue;
      if (filter !== undefined && !filter(e)) continue;
      q.push(e);
    }
    if (this.commits) q.push(commit);
    if (q.length - this.head > this.maxQueue) {
      this.fail(new ShoalError('Unavailable', `store watcher fell behind by more than ${this.maxQueue} events and was closed; re-read the state and watch again`));
      return;
    }
    this.wake();
  }

  /** @internal closes with an error (the consumer sees it after nothing is left to read). */
  fail(err: ShoalError): void {
    if (this.isClosed) return;
    this.failure = err;
    this.queue = [];
    this.head = 0;
    this.close();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.onClose(this);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w();
    }
  }

  /** Takes every queued event now (empty array if none); throws the failure of a failed watcher. */
  poll(): StoreEvent[] {
    if (this.head === this.queue.length) {
      if (this.failure) throw this.failure;
      return [];
    }
    const out = this.head === 0 ? this.queue : this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    return out;
  }

  /** Waits for at least one event; resolves to [] once closed without error. */
  async nextBatch(): Promise<StoreEvent[]> {
    for (;;) {
      const b = this.poll();
      if (b.length > 0 || this.isClosed) return b;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** Waits for the next event; undefined once closed without error. */
  async next(): Promise<StoreEvent | undefined> {
    for (;;) {
      if (this.head < this.queue.length) {
        const e = this.queue[this.head]!;
        this.queue[this.head++] = undefined as never;
        if (this.head === this.queue.length) {
          this.queue = [];
          this.head = 0;
        }
        return e;
      }
      if (this.failure) throw this.failure;
      if (this.isClosed) return undefined;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  async *batches(): AsyncGenerator<StoreEvent[], void, undefined> {
    try {
      for (;;) {
        const b = await this.nextBatch();
        if (b.length === 0) return;
        yield b;
      }
    } finally {
      this.close();
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<StoreEvent, void, undefined> {
    try {
      for (;;) {
        const e = await this.next();
        if (e === undefined) return;
        yield e;
      }
    } finally {
      this.close();
    }
  }
}

/** The set of live watchers of a store. */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();

  get size(): number {
    return this.watchers.size;
  }

  watch(opts: WatchOptions = {}): Watcher {
    const w = new Watcher(opts, (x) => this.watchers.delete(x));
    this.watchers.add(w);
    return w;
  }

  publish(events: readonly ObjectEvent[], commit: CommitEvent): void {
    for (const w of this.watchers) w.deliver(events, commit);
  }

  /** Closes every watcher with err (e.g. after a restore replaced the whole state). */
  failAll(err: ShoalError): void {
    for (const w of [...this.watchers]) w.fail(err);
  }
}
