// Records of the raft write-ahead log (wal.ts). On disk, one record is
//   length u32 BE   bytes after the 8-byte header (type, seq, payload)
//   crc32 u32 BE    zlib crc32 of those bytes
//   type u8 | seq u64 BE | payload
// A zero length marks the end of a segment (segments are preallocated with zeros). seq numbers
// are consecutive over the whole log, so a record from an older generation is never mistaken for
// a new one and a missing segment is noticed.
//
// The one record type, SAVE, is one save() of LevelStorage: an optional hard state and a run of
// entries (which, as in raft, replace any suffix of the log from their first index on):
//   flags u8 (bit 0: hard state present) | [term u64, vote u64, commit u64] | count u32 |
//   count x (index u64, term u64, type u8, length u32, data)
import { crc32 } from 'node:zlib';
import type { Entry, HardState } from '../core/types.js';

export const HEADER_BYTES = 8;
export const REC_SAVE = 1;

export interface SaveRecord {
  seq: number;
  hardState: HardState | undefined;
  entries: Entry[];
}

/** the complete on-disk bytes (header included) of one SAVE record */
export function encodeSave(seq: number, hardState: HardState | undefined, entries: readonly Entry[]): Buffer {
  let size = HEADER_BYTES + 1 + 8 + 1 + (hardState ? 24 : 0) + 4;
  for (const e of entries) size += 21 + e.data.byteLength;
  const b = Buffer.allocUnsafe(size);
  let o = HEADER_BYTES;
  b[o++] = REC_SAVE;
  b.writeBigUInt64BE(BigInt(seq), o);
  o += 8;
  b[o++] = hardState ? 1 : 0;
  if (hardState) {
    b.writeBigUInt64BE(BigInt(hardState.term), o);
    b.writeBigUInt64BE(BigInt(hardState.vote), o + 8);
    b.writeBigUInt64BE(BigInt(hardState.commit), o + 16);
    o += 24;
  }
  b.writeUInt32BE(entries.length, o);
  o += 4;
  for (const e of entries) {
    b.writeBigUInt64BE(BigInt(e.index), o);
    b.writeBigUInt64BE(BigInt(e.term), o + 8);
    b[o + 16] = e.type;
    b.writeUInt32BE(e.data.byteLength, o + 17);
    o += 21;
    b.set(e.data, o);
    o += e.data.byteLength;
  }
  b.writeUInt32BE(size - HEADER_BYTES, 0);
  b.writeUInt32BE(crc32(b.subarray(HEADER_BYTES)), 4);
  return b;
}

export type Scan =
  | { kind: 'record'; seq: number; body: Buffer; next: number }
  | { kind: 'end' }
  | { kind: 'bad'; why: string };

/** reads the record at `off` of a segment's bytes */
export function scanRecord(buf: Buffer, off: number): Scan {
  if (off + HEADER_BYTES > buf.byteLength) return { kind: 'end' };
  const len = buf.readUInt32BE(off);
  const crc = buf.readUInt32BE(off + 4);
  if (len === 0 && crc === 0) return { kind: 'end' };
  if (len < 9 || off + HEADER_BYTES + len > buf.byteLength) return { kind: 'bad', why: `record length ${len} runs past the segment` };
  const body = buf.subarray(off + HEADER_BYTES, off + HEADER_BYTES + len);
  if (crc32(body) !== crc) return { kind: 'bad', why: 'checksum mismatch' };
  if (body[0] !== REC_SAVE) return { kind: 'bad', why: `unknown record type ${body[0]}` };
  return { kind: 'record', seq: Number(body.readBigUInt64BE(1)), body, next: off + HEADER_BYTES + len };
}

/** decodes a checked record body (type, seq, payload); copies entry data out of the segment buffer */
export function decodeSave(body: Buffer): SaveRecord {
  let o = 1;
  const seq = Number(body.readBigUInt64BE(o));
  o += 8;
  const flags = body[o++] as number;
  let hardState: HardState | undefined;
  if (flags & 1) {
    hardState = { term: Number(body.readBigUInt64BE(o)), vote: Number(body.readBigUInt64BE(o + 8)), commit: Number(body.readBigUInt64BE(o + 16)) };
    o += 24;
  }
  const n = body.readUInt32BE(o);
  o += 4;
  const entries: Entry[] = new Array<Entry>(n);
  for (let i = 0; i < n; i++) {
    const index = Number(body.readBigUInt64BE(o));
    const term = Number(body.readBigUInt64BE(o + 8));
    const type = body[o + 16] as number;
    const len = body.readUInt32BE(o + 17);
    o += 21;
    entries[i] = { index, term, type, data: new Uint8Array(body.subarray(o, o + len)) };
    o += len;
  }
  return { seq, hardState, entries };
}
