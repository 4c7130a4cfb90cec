// Batches task status updates: changes within a short window are coalesced (latest status per
// task wins) and sent in one UpdateTaskStatus call. Updates that could not be sent (no session,
// RPC failed) stay pending and go out with the next flush.
//
// The window is a rate limit, not a delay: after a quiet window the first change goes out at once
// (with whatever else changed in the same turn of the event loop), and only changes that follow
// within `windowMs` of that send wait for the window to end. A rolling update waits for the
// agent's reports on its critical path (old task stopped, new task running) and a lone change
// should not sit out the window; a busy node still sends at most one batch per window.
import type { TaskStatus, TaskStatusUpdate } from '@shoal/api';
import type { Clock, Timer } from './clock.js';
import { errorMessage, type Logger } from './log.js';

export interface ReporterOptions {
  clock: Clock;
  logger: Logger;
  /** Coalescing window (default 50 ms). */
  windowMs?: number;
  /** Largest batch per RPC (default 1000). */
  maxBatch?: number;
  /** Retry delay after a failed send (default 1000 ms). */
  retryMs?: number;
  /** Sends one batch; rejects when there is no session or the call failed. */
  send: (updates: TaskStatusUpdate[]) => Promise<void>;
}

export class StatusReporter {
  private readonly pending = new Map<string, TaskStatus>();
  private timer: Timer | undefined;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  /** when the last batch was sent (rate limit of the window) */
  private lastSendAt = -Infinity;
  /** Number of UpdateTaskStatus calls that succeeded. */
  sentBatches = 0;
  sentUpdates = 0;
  failedBatches = 0;

  constructor(private readonly opts: ReporterOptions) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  report(taskId: string, status: TaskStatus): void {
    if (this.closed) return;
    this.pending.set(taskId, status);
    this.schedule();
  }

  /** Sends now whatever is pending (e.g. right after a new session came up). */
  kick(): void {
    this.timer?.cancel();
    this.timer = undefined;
    void this.flush();
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(ms?: number): void {
    if (this.timer || this.inFlight || this.closed) return;
    const window = this.opts.windowMs ?? 50;
    const wait = ms ?? Math.max(0, this.lastSendAt + window - this.opts.clock.now());
    this.timer = this.opts.clock.setTimer(wait, () => {
      this.timer = undefined;
      void this.flush();
    });
  }

  async flush(): Promise<void> {
    if (this.inFlight || this.closed || this.pending.size === 0) return;
    const batch = [...this.pending].slice(0, this.opts.maxBatch ?? 1000);
    this.lastSendAt = this.opts.clock.now();
    const run = async (): Promise<void> => {
      let failed = false;
      try {
        await this.opts.send(batch.map(([taskId, status]) => ({ taskId, status })));
        this.sentBatches++;
        this.sentUpdates += batch.length;
        // Drop what was sent unless a newer status arrived meanwhile.
        for (const [id, st] of batch) if (this.pending.get(id) === st) this.pending.delete(id);
      } catch (err) {
        this.failedBatches++;
        this.opts.logger.debug('status update not sent; kept pending', { count: batch.length, err: errorMessage(err) });
        failed = true;
      } finally {
        this.inFlight = undefined;
      }
      // After a failure retry later (or sooner on kick(), when a new session comes up).
      if (this.pending.size) this.schedule(failed ? (this.opts.retryMs ?? 1000) : undefined);
    };
    this.inFlight = run();
    await this.inFlight;
  }
}
