// ReadIndex bookkeeping on the leader (Raft thesis §6.4): each read records the commit index at
// the time it arrived; it is released once a quorum answered a heartbeat sent after it arrived.
import { contextKey } from './message.js';
import type { NodeId } from './types.js';

export interface ReadRequest {
  index: number;
  /** who asked: the leader itself or a follower that forwarded the request */
  from: NodeId;
  context: Uint8Array;
  acks: Set<NodeId>;
}

export class ReadOnly {
  private queue: ReadRequest[] = [];
  private byKey = new Map<string, ReadRequest>();

  add(index: number, from: NodeId, context: Uint8Array): void {
    const key = contextKey(context);
    if (this.byKey.has(key)) return;
    const req: ReadRequest = { index, from, context, acks: new Set() };
    this.queue.push(req);
    this.byKey.set(key, req);
  }

  /** records an ack of the heartbeat round carrying `context`; returns the acks, if pending */
  recvAck(from: NodeId, context: Uint8Array): Set<NodeId> | undefined {
    const req = this.byKey.get(contextKey(context));
    if (!req) return undefined;
    req.acks.add(from);
    return req.acks;
  }

  /** releases the request carrying `context` and every request queued before it */
  advance(context: Uint8Array): ReadRequest[] {
    const key = contextKey(context);
    const i = this.queue.findIndex((r) => contextKey(r.context) === key);
    if (i < 0) return [];
    const out = this.queue.splice(0, i + 1);
    for (const r of out) this.byKey.delete(contextKey(r.context));
    return out;
  }

  lastPendingContext(): Uint8Array | undefined {
    return this.queue[this.queue.length - 1]?.context;
  }

  pending(): number {
    return this.queue.length;
  }
}
