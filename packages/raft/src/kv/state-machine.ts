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

/** keys encoded between two yields to the event loop while snapshotting */
const SNAPSHOT_SLICE = 4096;

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

  /**
   * u16 BE key length | u32 BE value length | key | value, per key. The state is captured at once
   * (a copy of the map: values are never changed in place, apply stores new ones), then sized and
   * written into one buffer a slice of keys at a time, yielding between slices: done in one go,
   * the 64k keys of the raft bench held the event loop for 50-290 ms every snapshot.
   */
  async snapshot(): Promise<Uint8Array> {
    const entries = [...this.map];
    let size = 0;
    for (const [k, v] of entries) size += 6 + Buffer.byteLength(k, 'utf8') + v.byteLength;
    const out = Buffer.allocUnsafe(size);
    let off = 0;
    for (let i = 0; i < entries.length; i++) {
      if (i > 0 && i % SNAPSHOT_SLICE === 0) await new Promise<void>((r) => setImmediate(r));
      const [k, v] = entries[i] as [string, Uint8Array];
      const kl = out.write(k, off + 6, 'utf8');
      out.writeUInt16BE(kl, off);
      out.writeUInt32BE(v.byteLength, off + 2);
      off += 6 + kl;
      out.set(v, off);
      off += v.byteLength;
    }
    return out;
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
