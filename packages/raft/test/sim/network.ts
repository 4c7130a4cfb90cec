// A simulated network: every message is delayed by a random number of ticks (which reorders
// them), and may be dropped or duplicated; links can be cut in one direction or both.
import type { Message, NodeId } from '../../src/core/types.js';
import type { Rng } from './prng.js';

export interface NetworkFaults {
  dropRate: number;
  dupRate: number;
  /** messages are delivered after 0..maxDelay ticks */
  maxDelay: number;
}

interface InFlight {
  at: number;
  order: number;
  msg: Message;
}

export class SimNetwork {
  private flights: InFlight[] = [];
  private readonly blocked = new Set<string>();
  faults: NetworkFaults;
  private seq = 0;
  sent = 0;
  dropped = 0;

  constructor(
    private readonly rng: Rng,
    faults: NetworkFaults,
  ) {
    this.faults = faults;
  }

  private static key(from: NodeId, to: NodeId): string {
    return `${from}>${to}`;
  }

  /** cuts the link from → to (one way) */
  cut(from: NodeId, to: NodeId): void {
    this.blocked.add(SimNetwork.key(from, to));
  }

  linked(from: NodeId, to: NodeId): boolean {
    return !this.blocked.has(SimNetwork.key(from, to));
  }

  /** splits the nodes into two groups that cannot talk to each other */
  partition(a: NodeId[], b: NodeId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cut(x, y);
        this.cut(y, x);
      }
    }
  }

  healAll(): void {
    this.blocked.clear();
  }

  blockedLinks(): string[] {
    return [...this.blocked].sort();
  }

  send(now: number, msgs: Message[]): void {
    for (const msg of msgs) {
      this.sent++;
      if (!this.linked(msg.from, msg.to) || this.rng.chance(this.faults.dropRate)) {
        this.dropped++;
        continue;
      }
      const copies = this.rng.chance(this.faults.dupRate) ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        this.flights.push({ at: now + this.rng.int(this.faults.maxDelay + 1), order: this.rng.next(), msg });
      }
    }
  }

  /** removes and returns the messages due at `now`, in a random order */
  due(now: number): Message[] {
    const ready: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.flights) (f.at <= now ? ready : rest).push(f);
    this.flights = rest;
    ready.sort((a, b) => a.order - b.order);
    // a link cut while the message was in flight loses it
    return ready.filter((f) => this.linked(f.msg.from, f.msg.to)).map((f) => f.msg);
  }

  /** drops everything in flight to or from a node (its connections died with it) */
  dropNode(id: NodeId): void {
    this.flights = this.flights.filter((f) => f.msg.to !== id && f.msg.from !== id);
  }

  inFlight(): number {
    return this.flights.length;
  }
}
