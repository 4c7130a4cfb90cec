// Client requests waiting on the log: proposals (resolved when their entry is applied, rejected
// when another entry took their index) and reads (resolved once applied >= their read index).
import { RaftError, type NodeId } from '../core/types.js';

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
}

export class PendingProposals {
  private readonly byIndex = new Map<number, { term: number; w: Waiter<{ index: number }> }>();

  add(index: number, term: number, w: Waiter<{ index: number }>): void {
    this.byIndex.get(index)?.w.reject(new RaftError('ProposalDropped', `proposal at ${index} superseded`));
    this.byIndex.set(index, { term, w });
  }

  /** the entry (index, term) was applied */
  applied(index: number, term: number): void {
    const p = this.byIndex.get(index);
    if (!p) return;
    this.byIndex.delete(index);
    if (p.term === term) p.w.resolve({ index });
    else p.w.reject(new RaftError('ProposalDropped', `proposal at ${index} lost to another leader's entry`));
  }

  /** a snapshot moved the applied index to `index`: proposals at or below it are unknown */
  skippedTo(index: number): void {
    for (const [i, p] of this.byIndex) {
      if (i <= index) {
        this.byIndex.delete(i);
        p.w.reject(new RaftError('ProposalDropped', `proposal at ${i} replaced by a snapshot`));
      }
    }
  }

  rejectAll(err: Error): void {
    for (const p of this.byIndex.values()) p.w.reject(err);
    this.byIndex.clear();
  }

  get size(): number {
    return this.byIndex.size;
  }
}

export class PendingReads {
  private seq = 0;
  /** asked of the core, waiting for a read state */
  private readonly asked = new Map<string, { w: Waiter<number>; deadline: number }>();
  /** read index known, waiting for apply */
  private readonly waiting: { index: number; w: Waiter<number> }[] = [];

  nextContext(self: NodeId): Uint8Array {
    return Buffer.from(`${self}:${++this.seq}`);
  }

  add(ctx: Uint8Array, w: Waiter<number>, deadline: number): void {
    this.asked.set(Buffer.from(ctx).toString(), { w, deadline });
  }

  /** a read state came out of the core */
  readState(ctx: Uint8Array, index: number, applied: number): void {
    const key = Buffer.from(ctx).toString();
    const a = this.asked.get(key);
    if (!a) return;
    this.asked.delete(key);
    if (applied >= index) a.w.resolve(index);
    else this.waiting.push({ index, w: a.w });
  }

  applied(applied: number): void {
    if (this.waiting.length === 0) return;
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const r = this.waiting[i] as { index: number; w: Waiter<number> };
      if (r.index <= applied) {
        this.waiting.splice(i, 1);
        r.w.resolve(r.index);
      }
    }
  }

  /** reads whose request or answer was lost (e.g. across a leader change) fail after a deadline */
  expire(now: number): void {
    for (const [k, a] of this.asked) {
      if (a.deadline <= now) {
        this.asked.delete(k);
        a.w.reject(new RaftError('Unavailable', 'read index timed out (no leader answered)'));
      }
    }
  }

  rejectAll(err: Error): void {
    for (const a of this.asked.values()) a.w.reject(err);
    this.asked.clear();
    for (const r of this.waiting) r.w.reject(err);
    this.waiting.length = 0;
  }
}
