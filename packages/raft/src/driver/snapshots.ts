// When RaftNode takes a snapshot: after snapshotEvery applied entries, or once the entries
// applied since the last snapshot hold snapshotBytes (at least as many bytes as the last snapshot),
// both times 1 + snapshotStagger.
import type { Clock } from '../clock.js';
import type { ConfState, NodeId } from '../core/types.js';
import type { LevelStorage } from '../storage/level-storage.js';
import type { Logger } from '../transport/logger.js';
import { encodeEnvelope } from './envelope.js';
import type { StateMachine } from './options.js';

export interface SnapshotSchedulerDeps {
  storage: LevelStorage;
  sm: StateMachine;
  log: Logger;
  clock: Clock;
  opts: { snapshotEvery: number; snapshotBytes: number; snapshotStagger: number; snapshotKeep: number; snapshotKeepBytes: number };
  /** the node stopped: a snapshot encoded meanwhile is not written */
  stopped: () => boolean;
}

export class SnapshotScheduler {
  /** index of the last snapshot taken or installed */
  private snapshotIndex = 0;
  /** size of the last snapshot taken or installed: the log may grow to this before the next */
  private lastSnapshotBytes = 0;
  /** the snapshot being encoded and written, if any */
  private snapshotting: Promise<void> | undefined;

  constructor(private readonly d: SnapshotSchedulerDeps) {}

  /** a snapshot was restored at start or installed from the leader */
  restored(index: number, bytes: number): void {
    this.snapshotIndex = index;
    this.lastSnapshotBytes = bytes;
  }

  /** the snapshot being encoded and written, if any */
  get inFlight(): Promise<void> | undefined {
    return this.snapshotting;
  }

  /**
   * Starts a snapshot in the background once snapshotEvery entries, or snapshotBytes of entries
   * (at least as many as the last snapshot held), both times 1 + snapshotStagger, were applied
   * since the last one. What it covers
   * is fixed now (the state machine captures its state synchronously when snapshot() is called;
   * members and configuration are copied), while encoding and writing run beside the Ready loop,
   * so that a large state never stops heartbeats and replication.
   * Storage refuses a snapshot older than the one it has (e.g. one received from the leader).
   */
  maybeSnapshot(applied: number, cs: ConfState, liveMembers: ReadonlyMap<NodeId, string>, liveRemoved: ReadonlySet<NodeId>): void {
    const { storage, sm, log, opts: o } = this.d;
    if (this.snapshotting) return;
    const f = 1 + Math.max(0, o.snapshotStagger);
    if (applied - this.snapshotIndex < o.snapshotEvery * f) {
      const bytes = storage.bytesBetween(this.snapshotIndex, applied);
      if (bytes < Math.max(o.snapshotBytes, this.lastSnapshotBytes) * f) return;
    }
    const index = applied;
    const confState = { voters: [...cs.voters], learners: [...cs.learners] };
    const members = new Map(liveMembers);
    const removed = [...liveRemoved];
    const started = this.d.clock.now();
    const pending = Promise.resolve(sm.snapshot());
    this.snapshotting = (async () => {
      try {
        const data = await pending;
        const env = encodeEnvelope({ members, removed, data });
        if (this.d.stopped()) return;
        await storage.createSnapshot(index, confState, env, storage.compactionPoint(index, o.snapshotKeep, o.snapshotKeepBytes));
        this.snapshotIndex = Math.max(this.snapshotIndex, index);
        this.lastSnapshotBytes = env.byteLength;
        log.info('snapshot taken', { index, bytes: env.byteLength, ms: this.d.clock.now() - started });
      } catch (err) {
        if (!this.d.stopped()) log.warn('snapshot failed; will retry', { index, err: (err as Error).message });
      } finally {
        this.snapshotting = undefined;
      }
    })();
  }
}

/**
 * A snapshotStagger for the member with raft id `raftId`: 0 to 3/8 by id. Members apply the same
 * entries, so with one threshold all of them reach it at the same index and encode a snapshot of
 * the whole state at the same moment, while writes wait on them; staggered by an eighth of the
 * threshold each, at most one is busy with it at a time and a quorum keeps committing.
 */
export function snapshotStaggerFor(raftId: number): number {
  return ((Math.max(1, raftId) - 1) % 4) / 8;
}
