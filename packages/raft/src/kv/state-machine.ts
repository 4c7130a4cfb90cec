// A replicated key-value map: the state machine behind the RaftKV service (benchmarks and
// integration tests). Entry data: u16 BE key length | key (utf8) | value.
import type { Entry } from '../core/types.js';
import type { StateMachine } from '../driver/options.js';

export function encodePut(key: string, value: Uint8Array): Uint8Array {
  const k = Buffer.from(key, 'utf8');
  if (k.byteLength > 0xffff) throw new RangeError('kv: key too long');
  const out = Buffer.allocUnsafe(2 + k.byteLength + value.byteLength);
  out.writeUInt16BE(k.byteLength, 0);
  k.copy(out, 2);
  out.set(value, 2 + k.byteLength);
  return out;
}

export function decodePut(data: Uint8Array): { key: string; value: Uint8Array } {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const n = b.readUInt16BE(0);
  return { key: b.toString('utf8', 2, 2 + n), value: b.subarray(2 + n) };
}

export class KvStateMachine implements StateMachine {
  readonly map = new Map<string, Uint8Array>();
  appliedIndex = 0;

  apply(entries: Entry[]): void {
    for (const e of entries) {
      const { key, value } = decodePut(e.data);
      this.map.set(key, new Uint8Array(value)); // copy: the entry's buffer may be shared
      this.appliedIndex = e.index;
    }
  }

  get(key: string): Uint8Array | undefined {
    return this.map.get(key);
  }

  snapshot(): Uint8Array {
    const parts: Buffer[] = [];
    for (const [k, v] of this.map) {
      const kb = Buffer.from(k, 'utf8');
      const h = Buffer.allocUnsafe(6);
      h.writeUInt16BE(kb.byteLength, 0);
      h.writeUInt32BE(v.byteLength, 2);
      parts.push(h, kb, Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    }
    return Buffer.concat(parts);
  }

  restore(data: Uint8Array, metadata: { index: number }): void {
    this.map.clear();
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    while (off < b.byteLength) {
      const kl = b.readUInt16BE(off);
      const vl = b.readUInt32BE(off + 2);
      off += 6;
      const k = b.toString('utf8', off, off + kl);
      off += kl;
      this.map.set(k, new Uint8Array(b.subarray(off, off + vl)));
      off += vl;
    }
    this.appliedIndex = metadata.index;
  }
}
