// The store: transactions in, entries out to the Proposer, committed entries applied in log order,
// consistent views, watches, snapshots.
import { ShoalError } from '@shoal/api';
import { applyEntry } from './apply.js';
import { encodeEntry } from './codec.js';
import { LocalProposer, type Applier, type Proposer } from './proposer.js';
import { decodeSnapshot, encodeSnapshot, encodeSnapshotInSlices } from './snapshot.js';
import { Tx } from './tx.js';
import { ReadView, emptyState, type StoreState } from './view.js';
import { WatchHub, type CommitEvent, type WatchOptions, type Watcher } from './watch.js';

export interface StoreOptions {
  /** Where entries go; default: a LocalProposer bound to this store. */
  proposer?: Proposer;
  /** Milliseconds since the epoch, read once per transaction on the proposing side (default: () => 0). */
  clock?: () => number;
  /** Id generator offered to transactions as `tx.newId()` (the daemon passes nanoid). */
  newId?: () => string;
}

export interface UpdateResult<T> {
  /** log index the transaction was applied at (the current index if it changed nothing) */
  index: number;
  /** what the transaction callback returned */
  value: T;
  /** number of objects changed */
  changes: number;
}

export interface ApplyResult {
  index: number;
  /** false when the entry was at or below the last applied index and was skipped */
  applied: boolean;
  /** set when the entry was rejected as a whole (its proposer gets this error) */
  error?: ShoalError;
  /** number of object changes */
  changes: number;
}

/** Rejections kept for proposers that have not collected them yet. */
const MAX_REJECTIONS = 4096;

export class Store implements Applier {
  private state: StoreState;
  private cachedView: ReadView | null = null;
  private readonly hub = new WatchHub();
  private readonly rejections = new Map<number, ShoalError>();
  private readonly proposer: Proposer;
  private readonly clock: () => number;
  private readonly newId: (() => string) | undefined;

  constructor(opts: StoreOptions = {}, state: StoreState = emptyState()) {
    this.state = state;
    this.proposer = opts.proposer ?? new LocalProposer();
    if (this.proposer instanceof LocalProposer) this.proposer.bind(this);
    this.clock = opts.clock ?? (() => 0);
    this.newId = opts.newId;
  }

  /** A store whose state is the snapshot's. */
  static restore(snapshot: Uint8Array, opts: StoreOptions = {}): Store {
    return new Store(opts, decodeSnapshot(snapshot));
  }

  /** Index of the last applied entry. */
  get index(): number {
    return this.state.index;
  }

  /** Number of open watchers. */
  get watchers(): number {
    return this.hub.size;
  }

  /**
   * Runs fn in a transaction and commits its writes as one entry. Reads inside fn see the state at
   * the start plus fn's own writes. Resolves once the entry is applied; rejects with the error fn
   * threw, with an early check's error (NotFound, Conflict, AlreadyExists…), with the proposer's
   * error, or with the error apply rejected the entry with (e.g. Conflict when another
   * transaction changed an object first). A rejected entry changes nothing.
   */
  async update<T>(fn: (tx: Tx) => T | Promise<T>): Promise<UpdateResult<T>> {
    const tx = new Tx(this.state, this.clock(), this.newId);
    let value: T;
    try {
      const r = fn(tx);
      value = r instanceof Promise ? await r : r;
    } finally {
      tx.seal();
    }
    const entry = tx.entry();
    if (!entry) return { index: this.state.index, value, changes: 0 };
    const { index } = await this.proposer.propose(encodeEntry(entry));
    const err = this.rejections.get(index);
    if (err) {
      this.rejections.delete(index);
      throw err;
    }
    if (this.state.index < index) {
      throw new ShoalError('Internal', `proposer resolved index ${index} before the store applied it (applied: ${this.state.index})`);
    }
    return { index, value, changes: entry.actions.length };
  }

  /** Runs fn on a consistent view of the current state. */
  view<T>(fn: (view: ReadView) => T): T {
    return fn(this.snapshotView());
  }

  /** A consistent view of the current state that later commits do not change. O(1). */
  snapshotView(): ReadView {
    return (this.cachedView ??= new ReadView(this.state));
  }

  /** Events of entries applied from now on. See watch.ts for ordering and the overflow policy. */
  watch(opts: WatchOptions = {}): Watcher {
    return this.hub.watch(opts);
  }

  /**
   * A view of the current state and a watcher whose first events are those of the next entry:
   * read the full state from the view, then follow the watcher, and nothing is missed or seen
   * twice.
   */
  viewAndWatch(opts: WatchOptions = {}): { view: ReadView; watcher: Watcher } {
    return { view: this.snapshotView(), watcher: this.hub.watch(opts) };
  }

  /**
   * Applies a committed entry. Call it for every committed entry, in log order, on every replica.
   * Entries at or below the current index are skipped (e.g. replayed after a restore). A rejected
   * entry only advances the index; its error is returned and kept for its proposer.
   */
  apply(entry: Uint8Array, index: number): ApplyResult {
    if (index <= this.state.index) return { index, applied: false, changes: 0 };
    const out = applyEntry(this.state, entry, index);
    this.state = out.state;
    this.cachedView = null;
    if (!out.ok) {
      this.rejections.set(index, out.error);
      if (this.rejections.size > MAX_REJECTIONS) {
        const oldest = this.rejections.keys().next();
        if (!oldest.done) this.rejections.delete(oldest.value);
      }
      return { index, applied: true, error: out.error, changes: 0 };
    }
    const n = out.events.length;
    if (n > 0 && this.hub.size > 0) {
      const commit: CommitEvent = { action: 'commit', index, changes: n };
      this.hub.publish(out.events, commit);
    }
    return { index, applied: true, changes: n };
  }

  /** Deterministic bytes of every table and the last applied index. */
  snapshot(): Uint8Array {
    return encodeSnapshot(this.state);
  }

  /**
   * The same bytes as snapshot(), of the state as it is at the call, encoded in slices with
   * `pause()` (e.g. a setImmediate) awaited between them: commits may go on meanwhile.
   */
  snapshotInSlices(pause: () => Promise<void>, every?: number): Promise<Uint8Array> {
    return encodeSnapshotInSlices(this.state, pause, every);
  }

  /**
   * Replaces the whole state with a snapshot's. Open watchers are closed with
   * ShoalError('Unavailable'): their consumers must re-read the state.
   */
  restore(snapshot: Uint8Array): void {
    this.state = decodeSnapshot(snapshot);
    this.cachedView = null;
    this.rejections.clear();
    this.hub.failAll(new ShoalError('Unavailable', 'store restored from a snapshot; re-read the state and watch again'));
  }
}
