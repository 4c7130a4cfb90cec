// A small key-value state machine replicated by the simulated cluster. Apply is a pure function
// of state and entry. Every write carries a unique id, so a write that reaches the log twice
// (a duplicated Propose message) takes effect once.
export type WriteOp =
  | { id: number; kind: 'put'; key: string; value: string }
  | { id: number; kind: 'cas'; key: string; expect: string | null; value: string };

export type OpResult = 'ok' | 'true' | 'false';

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeOp(op: WriteOp): Uint8Array {
  return enc.encode(JSON.stringify(op));
}

export function decodeOp(data: Uint8Array): WriteOp | undefined {
  if (data.byteLength === 0) return undefined;
  return JSON.parse(dec.decode(data)) as WriteOp;
}

export class KvStateMachine {
  kv = new Map<string, string>();
  /** result of every write applied, by id */
  results = new Map<number, OpResult>();

  apply(op: WriteOp): OpResult {
    const seen = this.results.get(op.id);
    if (seen !== undefined) return seen;
    let r: OpResult;
    if (op.kind === 'put') {
      this.kv.set(op.key, op.value);
      r = 'ok';
    } else if ((this.kv.get(op.key) ?? null) === op.expect) {
      this.kv.set(op.key, op.value);
      r = 'true';
    } else {
      r = 'false';
    }
    this.results.set(op.id, r);
    return r;
  }

  get(key: string): string | null {
    return this.kv.get(key) ?? null;
  }

  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify({ kv: [...this.kv], results: [...this.results] }));
  }

  static restore(data: Uint8Array): KvStateMachine {
    const sm = new KvStateMachine();
    if (data.byteLength === 0) return sm;
    const o = JSON.parse(dec.decode(data)) as { kv: [string, string][]; results: [number, OpResult][] };
    sm.kv = new Map(o.kv);
    sm.results = new Map(o.results);
    return sm;
  }

  fingerprint(): string {
    return JSON.stringify([[...this.kv].sort(), [...this.results].sort((a, b) => a[0] - b[0])]);
  }
}
