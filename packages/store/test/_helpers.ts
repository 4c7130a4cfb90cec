// Test helpers: object builders and a shared log that plays raft for several stores.
import { Network, Node, Service, Task, TaskState, type NodeRole } from '@shoal/api';
import { Store, type Proposer, type StoreOptions } from '../src/index.js';

export function service(id: string, name: string, replicas = 1): Service {
  return Service.fromJSON({
    id,
    spec: { annotations: { name, labels: { app: name } }, task: { container: { image: 'nginx:1.27', env: ['A=1'] } }, replicated: { replicas } },
  });
}

export function task(id: string, serviceId: string, slot: number, nodeId = '', desiredState = TaskState.RUNNING): Task {
  return Task.fromJSON({
    id,
    serviceId,
    slot,
    nodeId,
    desiredState,
    annotations: { name: `svc.${slot}.${id}` },
    spec: { container: { image: 'nginx:1.27', command: ['nginx', '-g', 'daemon off;'], env: ['A=1', 'B=2'] } },
    status: { state: TaskState.PENDING, message: 'pending' },
  });
}

export function node(id: string, hostname: string, role: NodeRole, availability = 0): Node {
  return Node.fromJSON({ id, spec: { availability }, description: { hostname }, role });
}

export function network(id: string, name: string): Network {
  return Network.fromJSON({ id, spec: { annotations: { name } } });
}

/** A counter clock: 1 s per reading, from 2024-01-01. */
export function testClock(): () => number {
  let t = Date.UTC(2024, 0, 1);
  return () => (t += 1000);
}

export function counterIds(prefix = 'id'): () => string {
  let n = 0;
  return () => `${prefix}${String(++n).padStart(6, '0')}`;
}

/**
 * A log shared by several stores, standing in for raft: proposals queue up until `commit()`,
 * which appends them in proposal order and applies each entry to every store, resolving the
 * proposer's promise after its own store applied it.
 */
export class SharedLog {
  readonly entries: Uint8Array[] = [];
  readonly stores: Store[] = [];
  /** entries rejected at apply time (counted on the first store) */
  rejected = 0;
  private queue: { entry: Uint8Array; resolve: (r: { index: number }) => void }[] = [];

  proposer(): Proposer {
    return {
      propose: (entry) => new Promise((resolve) => this.queue.push({ entry, resolve })),
    };
  }

  store(opts: StoreOptions = {}): Store {
    const s = new Store({ clock: testClock(), ...opts, proposer: this.proposer() });
    this.stores.push(s);
    return s;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Commits and applies every queued proposal. */
  commit(): void {
    const q = this.queue;
    this.queue = [];
    for (const p of q) {
      this.entries.push(p.entry);
      const index = this.entries.length;
      this.stores.forEach((s, i) => {
        const r = s.apply(p.entry, index);
        if (i === 0 && r.error) this.rejected++;
      });
      p.resolve({ index });
    }
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}
