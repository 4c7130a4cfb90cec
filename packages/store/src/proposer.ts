// How a transaction reaches the log. The store does not know raft: it hands the encoded entry
// to a Proposer and waits. The manager's raft wiring implements Proposer: it proposes the bytes,
// calls `store.apply(entry, index)` for every committed entry in log order (its own and other
// managers'), and resolves a proposal of this manager after applying it, with the index at which
// that very entry was applied (or rejects, e.g. Unavailable when leadership is lost before commit).

export interface Proposer {
  propose(entry: Uint8Array): Promise<{ index: number }>;
}

/** What a LocalProposer appends to: a store (or anything that applies entries in order). */
export interface Applier {
  /** index of the last applied entry */
  readonly index: number;
  apply(entry: Uint8Array, index: number): unknown;
}

/**
 * A one-node log for tests and single-node use: each proposal gets the next index and is applied
 * at once (before `propose` returns its promise). With `keepLog`, the entries are kept in `log`
 * so tests can replay them onto other stores.
 */
export class LocalProposer implements Proposer {
  private target: Applier | null = null;
  readonly log: { index: number; entry: Uint8Array }[] | null;

  constructor(opts: { keepLog?: boolean } = {}) {
    this.log = opts.keepLog ? [] : null;
  }

  /** Attaches the store this proposer appends to (done by the Store constructor). */
  bind(target: Applier): this {
    if (this.target && this.target !== target) throw new Error('LocalProposer is already bound to another store');
    this.target = target;
    return this;
  }

  propose(entry: Uint8Array): Promise<{ index: number }> {
    const t = this.target;
    if (!t) return Promise.reject(new Error('LocalProposer is not bound to a store'));
    const index = t.index + 1;
    this.log?.push({ index, entry });
    t.apply(entry, index);
    return Promise.resolve({ index });
  }
}
