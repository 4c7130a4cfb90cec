// Per-follower replication progress as seen by the leader (Raft thesis §3.5, §10.2.1 pipelining).
// A follower is in one of three states:
//  - Probe: the leader does not know where the follower's log matches; one Append at a time.
//  - Replicate: the logs match up to `match`; the leader streams Appends optimistically
//    (`next` advances on send), bounded by a window of `maxInflight` unacknowledged messages.
//  - Snapshot: the follower is behind the compacted log and is being sent a snapshot in chunks.
import type { NodeId, Snapshot } from './types.js';

export enum ProgressState {
  Probe = 'probe',
  Replicate = 'replicate',
  Snapshot = 'snapshot',
}

/** A ring of the last indexes of Appends in flight to one follower. */
export class Inflights {
  private readonly buf: number[] = [];
  constructor(private readonly size: number) {}
  get count(): number {
    return this.buf.length;
  }
  full(): boolean {
    return this.buf.length >= this.size;
  }
  add(lastIndex: number): void {
    this.buf.push(lastIndex);
  }
  /** drops every flight whose last index is <= `index` */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.buf.length && (this.buf[n] as number) <= index) n++;
    if (n > 0) this.buf.splice(0, n);
  }
  freeFirst(): void {
    this.buf.shift();
  }
  reset(): void {
    this.buf.length = 0;
  }
}

/** State of a snapshot transfer in chunks: one chunk in flight at a time (stop and wait). */
export interface SnapshotTransfer {
  snapshot: Snapshot;
  /** offset of the next byte the follower has asked for */
  offset: number;
  /** heartbeats sent since the last chunk went out (a lost chunk is resent) */
  idleHeartbeats: number;
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** in Probe state: an Append was sent and no answer came yet */
  probeSent = false;
  /** heard from since the last check-quorum round */
  recentActive = false;
  readonly inflights: Inflights;
  transfer: SnapshotTransfer | undefined;
  /** index of the snapshot being sent (Snapshot state) */
  pendingSnapshot = 0;
  /** the commit index the last append to this follower carried */
  commitSent = 0;

  constructor(
    readonly id: NodeId,
    next: number,
    maxInflight: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(Math.max(1, maxInflight));
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.transfer = undefined;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshot.metadata.index;
    this.transfer = { snapshot, offset: 0, idleHeartbeats: 0 };
  }

  /** the follower acknowledged entries up to `n`; returns whether anything moved */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** records that an Append ending at `last` was sent (optimistic in Replicate state) */
  sentEntries(last: number, count: number): void {
    if (this.state === ProgressState.Replicate) {
      if (count > 0) {
        this.next = last + 1;
        this.inflights.add(last);
      }
    } else if (this.state === ProgressState.Probe) {
      this.probeSent = true;
    }
  }

  /**
   * The follower rejected an Append whose previous index was `rejected`; `matchHint` is the
   * highest index at which the logs may still match. Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }
}
