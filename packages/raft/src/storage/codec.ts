// Binary layout of the raft storage keys and values in level.
//   h                  -> hard state (term u64, vote u64, commit u64)
//   e <index u64 BE>   -> entry (term u64, type u8, data)
//   s                  -> snapshot metadata (JSON)
//   d                  -> snapshot data
//   o                  -> log floor: index and term of the last compacted entry (u64, u64)
//   b                  -> the cluster's bootstrap configuration and founders' addresses (JSON), never compacted
//   w                  -> seq (u64) of the last write-ahead-log record applied to the entries and hard state
// Big-endian indexes keep entries in log order under level's byte-wise key ordering.
import type { ConfState, Entry, HardState, SnapshotMetadata } from '../core/types.js';

export const KEY_HARD_STATE = Buffer.from('h');
export const KEY_SNAP_META = Buffer.from('s');
export const KEY_SNAP_DATA = Buffer.from('d');
export const KEY_OFFSET = Buffer.from('o');
export const KEY_BOOTSTRAP = Buffer.from('b');
export const KEY_WAL_SEQ = Buffer.from('w');
export const ENTRY_PREFIX = 0x65; // 'e'

export function entryKey(index: number): Buffer {
  const k = Buffer.allocUnsafe(9);
  k[0] = ENTRY_PREFIX;
  k.writeBigUInt64BE(BigInt(index), 1);
  return k;
}

export function entryKeyIndex(key: Uint8Array): number {
  return Number(Buffer.from(key.buffer, key.byteOffset, key.byteLength).readBigUInt64BE(1));
}

export function encodeEntry(e: Entry): Buffer {
  const b = Buffer.allocUnsafe(9 + e.data.byteLength);
  b.writeBigUInt64BE(BigInt(e.term), 0);
  b[8] = e.type;
  b.set(e.data, 9);
  return b;
}

export function decodeEntry(index: number, v: Uint8Array): Entry {
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (b.byteLength < 9) throw new Error(`raft storage: entry ${index} is truncated`);
  return { index, term: Number(b.readBigUInt64BE(0)), type: b[8] as number, data: new Uint8Array(b.subarray(9)) };
}

export function encodeHardState(hs: HardState): Buffer {
  const b = Buffer.allocUnsafe(24);
  b.writeBigUInt64BE(BigInt(hs.term), 0);
  b.writeBigUInt64BE(BigInt(hs.vote), 8);
  b.writeBigUInt64BE(BigInt(hs.commit), 16);
  return b;
}

export function decodeHardState(v: Uint8Array): HardState {
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (b.byteLength !== 24) throw new Error('raft storage: hard state is corrupt');
  return { term: Number(b.readBigUInt64BE(0)), vote: Number(b.readBigUInt64BE(8)), commit: Number(b.readBigUInt64BE(16)) };
}

export function encodeSnapMeta(m: SnapshotMetadata): Buffer {
  return Buffer.from(JSON.stringify({ index: m.index, term: m.term, voters: m.confState.voters, learners: m.confState.learners }));
}

export function decodeSnapMeta(v: Uint8Array): SnapshotMetadata {
  const o = JSON.parse(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8')) as {
    index: number;
    term: number;
    voters: number[];
    learners: number[];
  };
  const confState: ConfState = { voters: o.voters, learners: o.learners };
  return { index: o.index, term: o.term, confState };
}

export function encodeOffset(index: number, term: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeBigUInt64BE(BigInt(index), 0);
  b.writeBigUInt64BE(BigInt(term), 8);
  return b;
}

export function decodeOffset(v: Uint8Array): { index: number; term: number } {
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (b.byteLength !== 16) throw new Error('raft storage: log offset is corrupt');
  return { index: Number(b.readBigUInt64BE(0)), term: Number(b.readBigUInt64BE(8)) };
}

/** the bootstrap record: the configuration and the founding members' addresses */
export function encodeBootstrap(cs: ConfState, addrs: ReadonlyMap<number, string>): Buffer {
  return Buffer.from(JSON.stringify({ voters: cs.voters, learners: cs.learners, addrs: [...addrs] }));
}

export function decodeBootstrap(v: Uint8Array): { confState: ConfState; addrs: Map<number, string> } {
  const o = JSON.parse(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8')) as Partial<ConfState> & { addrs?: [number, string][] };
  return { confState: { voters: o.voters ?? [], learners: o.learners ?? [] }, addrs: new Map(o.addrs ?? []) };
}

export function encodeSeq(seq: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(seq), 0);
  return b;
}

export function decodeSeq(v: Uint8Array): number {
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (b.byteLength !== 8) throw new Error('raft storage: write-ahead log position is corrupt');
  return Number(b.readBigUInt64BE(0));
}
