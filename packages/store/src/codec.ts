// The store's log entry: one transaction as a list of StoreActions, in a small binary format.
//
//   entry   = 0x53 'S'  0x01 (format)  varint(timestampMs)  varint(n)  action{n}
//   action  = u8(kind code)  u8(op: 1 create, 2 update, 3 delete, 4 patch)  varint(expectedVersion)
//             varint(len(id)) id(utf-8)  [patch: varint(n) field{n}]  [create/update/patch: varint(len(body)) body]
//   field   = varint(len(name)) name(utf-8): a top-level field of the object
//   body    = the object encoded with its protobuf codec from @shoal/api (meta is ignored:
//             apply sets meta from the entry's index and timestamp); for a patch, an object of
//             the kind holding only the named fields, which replace the current version's
//
// A patch is an update that names the fields it changes: a task's status report or placement
// rewrites its status (and node), not its spec, so neither the leader encoding it nor every
// manager applying it touches the rest of the task (a third of the bytes of an update).
//
// expectedVersion is the meta.version the transaction read (0 for creates, and for deletes by
// id, which are not version-checked). The encoding of a given transaction is deterministic.
import { ShoalError } from '@shoal/api';
import { schemaByCode, schemaOf, type Kind } from './schema.js';

export type ActionOp = 'create' | 'update' | 'delete' | 'patch';
const OP_CODE: Record<ActionOp, number> = { create: 1, update: 2, delete: 3, patch: 4 };
const OPS: readonly (ActionOp | undefined)[] = [undefined, 'create', 'update', 'delete', 'patch'];

export interface StoreAction {
  kind: Kind;
  op: ActionOp;
  id: string;
  /** meta.version the transaction read; 0 = not checked (creates, deletes by id). */
  version: number;
  /** protobuf bytes of the object (create and update), or of the patched fields (patch). */
  body?: Uint8Array | undefined;
  /** patch only: the top-level fields it replaces */
  fields?: readonly string[] | undefined;
}

export interface StoreEntry {
  /** Milliseconds since the epoch, chosen by the proposing side's clock. */
  timestamp: number;
  actions: StoreAction[];
}

const MAGIC = 0x53;
const FORMAT = 1;
const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

/** A growable byte buffer with the few primitives the store formats need. */
export class BinWriter {
  private buf: Uint8Array;
  private pos = 0;
  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }
  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`varint out of range: ${v}`);
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  string(s: string): this {
    // ids and names are short; reserve the worst case and encode in place
    this.ensure(5 + s.length * 3);
    const start = this.pos;
    this.pos += 1;
    const { written } = utf8.encodeInto(s, this.buf.subarray(this.pos));
    if (written < 0x80) {
      this.buf[start] = written;
      this.pos += written;
    } else {
      const tmp = this.buf.slice(this.pos, this.pos + written);
      this.pos = start;
      this.bytes(tmp);
    }
    return this;
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export class BinReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  u8(): number {
    if (this.pos >= this.buf.length) throw new RangeError('truncated');
    return this.buf[this.pos++]!;
  }
  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 0x80;
      if (mul > 2 ** 56) throw new RangeError('varint too long');
    }
    return v;
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new RangeError('truncated');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  string(): string {
    return utf8d.decode(this.bytes());
  }
}

/**
 * A view of bytes as a Node Buffer (no copy): protobufjs decodes strings from a Buffer with the
 * native UTF-8 decoder, markedly faster than from a plain Uint8Array.
 */
export function asBuffer(b: Uint8Array): Uint8Array {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Encodes a transaction as one log entry. */
export function encodeEntry(entry: StoreEntry): Uint8Array {
  let size = 16;
  for (const a of entry.actions) size += 24 + a.id.length * 3 + (a.body ? a.body.length : 0) + (a.fields ? a.fields.length * 16 : 0);
  const w = new BinWriter(size);
  w.u8(MAGIC).u8(FORMAT).varint(entry.timestamp).varint(entry.actions.length);
  for (const a of entry.actions) {
    w.u8(schemaOf(a.kind).code).u8(OP_CODE[a.op]).varint(a.version).string(a.id);
    if (a.op === 'patch') {
      const fields = a.fields ?? [];
      w.varint(fields.length);
      for (const f of fields) w.string(f);
    }
    if (a.op !== 'delete') {
      if (!a.body) throw new Error(`${a.kind} ${a.id}: ${a.op} without a body`);
      w.bytes(a.body);
    }
  }
  return w.finish();
}

/** Decodes a log entry; throws ShoalError('InvalidArgument') if it is not a well-formed store entry. */
export function decodeEntry(bytes: Uint8Array): StoreEntry {
  try {
    const r = new BinReader(bytes);
    if (r.u8() !== MAGIC) throw new Error('not a store entry');
    const format = r.u8();
    if (format !== FORMAT) throw new Error(`unknown entry format ${format}`);
    const timestamp = r.varint();
    const n = r.varint();
    const actions: StoreAction[] = [];
    for (let i = 0; i < n; i++) {
      const code = r.u8();
      const schema = schemaByCode(code);
      if (!schema) throw new Error(`unknown table code ${code}`);
      const op = OPS[r.u8()];
      if (!op) throw new Error('unknown action');
      const version = r.varint();
      const id = r.string();
      let fields: string[] | undefined;
      if (op === 'patch') {
        const n = r.varint();
        fields = [];
        for (let j = 0; j < n; j++) fields.push(r.string());
      }
      const body = op === 'delete' ? undefined : r.bytes();
      actions.push(fields ? { kind: schema.kind, op, id, version, body, fields } : { kind: schema.kind, op, id, version, body });
    }
    if (!r.done) throw new Error('trailing bytes');
    return { timestamp, actions };
  } catch (err) {
    throw new ShoalError('InvalidArgument', `malformed store entry: ${(err as Error).message}`, { cause: err });
  }
}
