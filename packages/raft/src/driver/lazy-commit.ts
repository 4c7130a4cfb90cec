// The commit index, written and sent lazily. A change of the commit index alone is neither
// written on its own (DeferredCommitIndex) nor sent at once with an empty append per follower
// (CommitFlush): it rides along with the next write or append, or goes out a little later.
import type { Clock, Timer } from '../clock.js';
import type { HardState, Ready } from '../core/types.js';

/**
 * The hard state a Ready must write. A change of the commit index alone is not written on its
 * own (like etcd, which does not sync it: a restarted node learns the commit index from the
 * leader again), so that neither applying on the leader nor the next append on a follower waits
 * for it; it rides along with the next write, or the next tick writes it when there is none.
 */
export class DeferredCommitIndex {
  /** a commit index not yet written */
  private deferred: HardState | undefined;

  /** the hard state `rd` must write, if any, given the one `stored` */
  toWrite(rd: Ready, stored: HardState): HardState | undefined {
    const hs = rd.hardState;
    if (hs && rd.entries.length === 0 && !rd.snapshot && hs.term === stored.term && hs.vote === stored.vote) {
      this.deferred = hs;
      return undefined;
    }
    if (hs) {
      this.deferred = undefined;
      return hs;
    }
    if (this.deferred && (rd.entries.length > 0 || rd.snapshot)) return this.take();
    return undefined;
  }

  /** the deferred hard state, if any, which the caller now writes */
  take(): HardState | undefined {
    const hs = this.deferred;
    this.deferred = undefined;
    return hs;
  }
}

export interface CommitFlushDeps {
  /** how long a commit advance may wait for an append to take it along (0: the driver sends it at once) */
  delayMs: number;
  clock: Clock;
  /** whether the leader has a commit advance it has not sent yet */
  unsent: () => boolean;
  /** sends it now */
  flush: () => void;
}

/**
 * lazyCommit: a commit advance that no append took along is sent delayMs later; once an append
 * took it (the usual case while writes keep coming) the timer is dropped, so that an idle loop
 * does not wake up for nothing.
 */
export class CommitFlush {
  private timer: Timer | undefined;

  constructor(private readonly d: CommitFlushDeps) {}

  /** after each Ready */
  schedule(): void {
    if (this.d.delayMs <= 0) return;
    if (!this.d.unsent()) {
      this.timer?.cancel();
      this.timer = undefined;
      return;
    }
    if (this.timer === undefined) {
      const fire = (): void => {
        this.timer = undefined;
        this.d.flush();
      };
      this.timer = this.d.clock.setTimer(this.d.delayMs, fire, { unref: true });
    }
  }

  stop(): void {
    this.timer?.cancel();
  }
}
