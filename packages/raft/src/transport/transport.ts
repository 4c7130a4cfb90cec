// gRPC transport between raft members: one outbound Peer (long-lived stream) per member, and
// the server side of the Stream RPC that hands inbound batches to the driver. Batches from
// another cluster are refused. Inbound streams that are cancelled abruptly (the peer's process
// died) are reported as broken, like outbound streams that fail after having been connected.
// The receiver writes nothing back on a stream (no per-batch ack: raft's AppendResps are the flow
// control, and an ack was one more HTTP/2 message per batch each way, on the commit path).
import { grpc, type RaftAck, type RaftBatch } from '@shoal/api';
import { realClock, type Clock } from '../clock.js';
import { MessageType, NONE, type Message, type NodeId } from '../core/types.js';
import { messageFromWire } from './codec.js';
import { createLogger, type Logger } from './logger.js';
import { Peer } from './peer.js';
import { trace } from '../trace.js';

export interface TransportHandler {
  /** messages received from peers, in order (all addressed to this node) */
  onMessages(msgs: Message[]): void;
  /** sending to `id` failed: the leader should stop optimistic replication to it */
  onUnreachable(id: NodeId): void;
  /** a snapshot chunk to `id` was dropped */
  onSnapshotFailed(id: NodeId): void;
  /** a connected stream to or from `id` broke (connection reset, not merely quiet) */
  onStreamBroken(id: NodeId, reason: string): void;
}

export interface TransportOptions {
  id: NodeId;
  clusterId: string;
  handler: TransportHandler;
  /** bytes per batch before splitting (default 1 MiB; a single larger message still goes alone) */
  maxBatchBytes?: number;
  /** messages queued per peer before dropping (default 4096) */
  maxQueue?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** jitter of the reconnect backoff (default: the clock's) */
  random?: () => number;
  /** time, timers and randomness (default: the real clock) */
  clock?: Clock;
  log?: Logger;
}

export class RaftTransport {
  private readonly peers = new Map<NodeId, Peer>();
  private readonly inbound = new Set<grpc.ServerDuplexStream<RaftBatch, RaftAck>>();
  private stopped = false;
  readonly log: Logger;
  private readonly clock: Clock;
  /** batches refused because of a cluster id mismatch */
  rejectedBatches = 0;

  constructor(private readonly o: TransportOptions) {
    this.log = o.log ?? createLogger('raft-transport', { raftId: o.id });
    this.clock = o.clock ?? realClock;
  }

  get id(): NodeId {
    return this.o.id;
  }

  /** adds (or re-addresses) a peer */
  addPeer(id: NodeId, addr: string): void {
    if (id === this.o.id || this.stopped) return;
    const cur = this.peers.get(id);
    if (cur && cur.addr === addr) return;
    cur?.stop();
    this.peers.set(
      id,
      new Peer({
        self: this.o.id,
        id,
        addr,
        clusterId: this.o.clusterId,
        maxBatchBytes: this.o.maxBatchBytes ?? 1024 * 1024,
        maxQueue: this.o.maxQueue ?? 4096,
        backoffInitialMs: this.o.backoffInitialMs ?? 50,
        backoffMaxMs: this.o.backoffMaxMs ?? 1000,
        random: this.o.random ?? (() => this.clock.random()),
        clock: this.clock,
        log: this.log,
        events: {
          unreachable: (p) => this.o.handler.onUnreachable(p),
          snapshotFailed: (p) => this.o.handler.onSnapshotFailed(p),
          broken: (p, reason) => this.o.handler.onStreamBroken(p, reason),
        },
      }),
    );
  }

  removePeer(id: NodeId): void {
    this.peers.get(id)?.stop();
    this.peers.delete(id);
  }

  peerAddr(id: NodeId): string | undefined {
    return this.peers.get(id)?.addr;
  }

  peerIds(): NodeId[] {
    return [...this.peers.keys()];
  }

  peerState(id: NodeId): string | undefined {
    return this.peers.get(id)?.connectionState;
  }

  send(msgs: Message[]): void {
    for (const m of msgs) {
      const p = this.peers.get(m.to);
      if (p) p.send(m);
      else if (m.to !== NONE) this.o.handler.onUnreachable(m.to);
    }
  }

  /** the server side of Raft.Stream; plug into the RaftServer implementation */
  readonly handleStream = (call: grpc.ServerDuplexStream<RaftBatch, RaftAck>): void => {
    if (this.stopped) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'raft transport stopped' });
      return;
    }
    this.inbound.add(call);
    call.sendMetadata(new grpc.Metadata()); // lets the sender know the stream is up
    let from: NodeId = NONE;
    let closed = false;
    const close = (broken: boolean, reason: string): void => {
      if (closed) return;
      closed = true;
      this.inbound.delete(call);
      if (broken && from !== NONE && !this.stopped) {
        this.log.info('stream from peer broken', { peer: from, reason });
        this.o.handler.onStreamBroken(from, reason);
      }
    };
    call.on('data', (b: RaftBatch) => {
      if (closed) return;
      if (b.clusterId !== this.o.clusterId) {
        this.rejectedBatches++;
        this.log.warn('refusing raft batch from another cluster', { from: b.from, clusterId: b.clusterId });
        closed = true;
        this.inbound.delete(call);
        call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: `cluster id mismatch: ${b.clusterId}` });
        return;
      }
      from = b.from;
      this.peers.get(from)?.heardFrom();
      const msgs: Message[] = [];
      for (const w of b.messages) if (w.to === this.o.id) msgs.push(messageFromWire(w));
      if (trace) traceReceived(msgs);
      if (msgs.length > 0) this.o.handler.onMessages(msgs);
    });
    call.on('end', () => {
      // a dropped connection also ends the readable side, and 'cancelled' follows right after:
      // wait a moment before calling it a graceful close
      this.clock.setTimer(20, () => close(false, 'ended'), { unref: true });
      try {
        call.end();
      } catch {
        // already cancelled
      }
    });
    call.on('cancelled', () => close(true, 'cancelled'));
    call.on('error', (err: Error) => close(true, err.message));
  };

  stop(): void {
    this.stopped = true;
    for (const p of this.peers.values()) p.stop();
    this.peers.clear();
    for (const c of this.inbound) {
      try {
        c.end();
      } catch {
        // already closed
      }
    }
    this.inbound.clear();
  }
}

function traceReceived(msgs: Message[]): void {
  for (const m of msgs) {
    const last = m.entries[m.entries.length - 1];
    if (m.type === MessageType.Append && last) trace?.('r.app', last.index);
    else if (m.type === MessageType.AppendResp && !m.reject) trace?.(`r.resp<${m.from}`, m.index);
  }
}
