// The outbound half of the transport for one peer: a long-lived bidi Stream carrying batches of
// messages. All messages queued while a batch could not be written yet are coalesced into the
// next batch (bounded in bytes). A failed stream is retried with capped exponential backoff and
// jitter; while backing off, messages are dropped and the peer is reported unreachable. A stream
// that fails after it was connected is reported as broken (the peer's process most likely died).
import { RaftClient, createClient, type RaftAck, type RaftBatch, type RaftMessage, grpc } from '@shoal/api';
import type { Clock, Timer } from '../clock.js';
import type { Message, NodeId } from '../core/types.js';
import { MessageType } from '../core/types.js';
import { messageSize, messageToWire } from './codec.js';
import type { Logger } from './logger.js';
import { trace } from '../trace.js';

export interface PeerEvents {
  unreachable(id: NodeId): void;
  snapshotFailed(id: NodeId): void;
  broken(id: NodeId, reason: string): void;
}

export interface PeerOptions {
  self: NodeId;
  id: NodeId;
  addr: string;
  clusterId: string;
  maxBatchBytes: number;
  maxQueue: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  random: () => number;
  clock: Clock;
  events: PeerEvents;
  log: Logger;
}

type State = 'idle' | 'connecting' | 'connected' | 'backoff' | 'stopped';

export class Peer {
  private client: RaftClient;
  private stream: grpc.ClientDuplexStream<RaftBatch, RaftAck> | undefined;
  private state: State = 'idle';
  private queue: Message[] = [];
  private flushScheduled = false;
  private waitingDrain = false;
  private attempt = 0;
  private retryTimer: Timer | undefined;
  private seq = 0;
  private lastUnreachable = 0;
  /** batches written (for status and tests) */
  sentBatches = 0;

  constructor(private readonly o: PeerOptions) {
    this.client = newClient(o.addr);
  }

  get addr(): string {
    return this.o.addr;
  }

  get connectionState(): State {
    return this.state;
  }

  send(m: Message): void {
    if (this.state === 'stopped') return;
    if (this.state === 'backoff' || this.queue.length >= this.o.maxQueue) {
      this.drop([m]);
      return;
    }
    this.queue.push(m);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private drop(msgs: Message[]): void {
    if (msgs.some((m) => m.type === MessageType.Snapshot)) this.o.events.snapshotFailed(this.o.id);
    const now = this.o.clock.now();
    // (now < last: the wall clock was set back)
    if (now - this.lastUnreachable >= 50 || now < this.lastUnreachable) {
      this.lastUnreachable = now;
      this.o.events.unreachable(this.o.id);
    }
  }

  private flush(): void {
    if (this.state === 'stopped' || this.state === 'backoff' || this.queue.length === 0) return;
    if (!this.stream) this.connect();
    const stream = this.stream;
    if (!stream || this.waitingDrain) return;
    while (this.queue.length > 0) {
      const msgs: RaftMessage[] = [];
      let bytes = 0;
      while (this.queue.length > 0) {
        const m = this.queue[0] as Message;
        const size = messageSize(m);
        if (msgs.length > 0 && bytes + size > this.o.maxBatchBytes) break;
        this.queue.shift();
        msgs.push(messageToWire(m));
        bytes += size;
      }
      const ok = stream.write({ clusterId: this.o.clusterId, from: this.o.self, messages: msgs, seq: ++this.seq });
      if (trace) traceWritten(msgs, this.o.id);
      this.sentBatches++;
      if (!ok) {
        this.waitingDrain = true;
        stream.once('drain', () => {
          this.waitingDrain = false;
          if (this.stream === stream) this.flush();
        });
        return;
      }
    }
  }

  private connect(): void {
    this.state = 'connecting';
    const stream = this.client.stream();
    this.stream = stream;
    let done = false;
    stream.on('metadata', () => {
      if (this.stream !== stream) return;
      if (this.state === 'connecting') {
        this.state = 'connected';
        this.attempt = 0;
        this.o.log.debug('stream connected', { peer: this.o.id, addr: this.o.addr });
      }
    });
    // the receiver answers nothing (raft's own AppendResps are the flow control), but a stream
    // that is not read never ends: keep it flowing so that 'end' and 'close' are seen
    stream.on('data', () => undefined);
    const finish = (reason: string, err?: grpc.ServiceError): void => {
      if (done) return;
      done = true;
      if (this.stream !== stream) return;
      const wasConnected = this.state === 'connected';
      this.stream = undefined;
      this.waitingDrain = false;
      if (this.state === 'stopped') return;
      const dropped = this.queue;
      this.queue = [];
      this.drop(dropped); // what was written to the failed stream is lost as well
      if (wasConnected) {
        this.o.log.info('stream to peer broken', { peer: this.o.id, reason, code: err?.code });
        this.o.events.broken(this.o.id, reason);
      }
      this.backoff();
    };
    stream.on('error', (err: grpc.ServiceError) => finish(err.details || err.message, err));
    stream.on('end', () => finish('ended by peer'));
    stream.on('close', () => finish('closed'));
  }

  /**
   * A batch from this peer arrived on its own stream to us: it is up, whatever our backoff last
   * concluded. Reconnect now rather than drop our answers until the retry timer fires (up to
   * backoffMaxMs): a member that restarts and campaigns would otherwise not hear the votes of
   * those whose streams to it were backing off while it was down, and the election would fall
   * back to the election timeout.
   */
  heardFrom(): void {
    if (this.state !== 'backoff') return;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.attempt = 0;
    // the channel keeps a reconnect backoff of its own, which no public call resets: a new
    // channel (with its own subchannel, see newClient) connects at once
    this.client.close();
    this.client = newClient(this.o.addr);
    this.state = 'idle';
    this.connect();
    this.flush();
  }

  private backoff(): void {
    const base = Math.min(this.o.backoffMaxMs, this.o.backoffInitialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 20);
    const delay = base / 2 + this.o.random() * (base / 2); // "equal jitter"
    this.state = 'backoff';
    this.retryTimer = this.o.clock.setTimer(
      delay,
      () => {
        this.retryTimer = undefined;
        if (this.state !== 'backoff') return;
        this.state = 'idle';
        this.connect(); // reconnect eagerly: raft heartbeats follow anyway
        this.flush();
      },
      { unref: true },
    );
  }

  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.retryTimer?.cancel();
    const s = this.stream;
    this.stream = undefined;
    this.queue = [];
    if (s) {
      s.end();
      s.cancel();
    }
    this.client.close();
  }
}

/**
 * A channel to one peer with a subchannel of its own (not shared through grpc-js's global pool),
 * so that replacing the channel also replaces the connection's reconnect backoff.
 */
function newClient(addr: string): RaftClient {
  return createClient(RaftClient, addr, { 'grpc.use_local_subchannel_pool': 1 });
}

function traceWritten(msgs: RaftMessage[], to: NodeId): void {
  for (const m of msgs) {
    const last = m.entries[m.entries.length - 1];
    if (m.type === MessageType.Append && last) trace?.(`w.app>${to}`, last.index);
    else if (m.type === MessageType.AppendResp && !m.reject) trace?.('w.resp', m.index);
  }
}
