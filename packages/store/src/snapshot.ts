// Snapshot of the whole store, for raft snapshots and for new managers.
//
//   snapshot = 0x53 'S'  0x53 'S'  0x01 (format)  varint(lastIndex)  varint(nTables)  table{n}
//   table    = u8(kind code)  varint(count)  (varint(len) object-protobuf){count}   objects by id
//
// Tables come in code order and objects in id order, each with its meta, so the bytes are a
// function of the state alone: snapshot -> restore -> snapshot gives the same bytes. Indexes are
// rebuilt on restore.
import { ShoalError } from '@shoal/api';
import { BinReader, BinWriter, asBuffer } from './codec.js';
import { deepFreeze } from './freeze.js';
import { KIND_POS, SCHEMAS, schemaByCode, type Stored } from './schema.js';
import { CreateModels } from './share.js';
import { TableState, TableWriter } from './table.js';
import { emptyState, type StoreState } from './view.js';

const MAGIC = 0x53;
const FORMAT = 1;

export function encodeSnapshot(state: StoreState): Uint8Array {
  const w = new BinWriter(1 << 16);
  w.u8(MAGIC).u8(MAGIC).u8(FORMAT).varint(state.index).varint(state.tables.length);
  for (const t of state.tables) {
    const codec = t.schema.codec;
    w.u8(t.schema.code).varint(t.primary.size);
    t.primary.forEach((_id, obj) => {
      w.bytes(codec.encode(obj as never).finish());
    });
  }
  return w.finish();
}

/**
 * The same bytes as encodeSnapshot, encoded `every` objects at a time with `pause()` awaited in
 * between, so that a large store does not hold the event loop for seconds. The state is an
 * immutable view: later commits do not change what is encoded.
 */
export async function encodeSnapshotInSlices(state: StoreState, pause: () => Promise<void>, every = 2_000): Promise<Uint8Array> {
  const w = new BinWriter(1 << 16);
  w.u8(MAGIC).u8(MAGIC).u8(FORMAT).varint(state.index).varint(state.tables.length);
  let n = 0;
  for (const t of state.tables) {
    const codec = t.schema.codec;
    w.u8(t.schema.code).varint(t.primary.size);
    const objs: unknown[] = [];
    t.primary.forEach((_id, obj) => {
      objs.push(obj);
    });
    for (const obj of objs) {
      w.bytes(codec.encode(obj as never).finish());
      if (++n % every === 0) await pause();
    }
  }
  return w.finish();
}

export function decodeSnapshot(bytes: Uint8Array): StoreState {
  try {
    const r = new BinReader(asBuffer(bytes));
    if (r.u8() !== MAGIC || r.u8() !== MAGIC) throw new Error('not a store snapshot');
    const format = r.u8();
    if (format !== FORMAT) throw new Error(`unknown snapshot format ${format}`);
    const index = r.varint();
    const n = r.varint();
    const tables: TableState[] = emptyState(index).tables.slice();
    const edit = { owner: 'edit' } as const;
    for (let i = 0; i < n; i++) {
      const code = r.u8();
      const schema = schemaByCode(code);
      if (!schema) throw new Error(`unknown table code ${code}`);
      const pos = KIND_POS[schema.kind];
      const w = new TableWriter<Stored>(tables[pos]!, edit);
      const count = r.varint();
      const models = new CreateModels();
      for (let j = 0; j < count; j++) {
        const obj = schema.codec.decode(r.bytes()) as Stored;
        models.share(schema.kind, obj);
        deepFreeze(obj);
        w.put(obj, w.get(obj.id));
      }
      tables[pos] = w.finish();
    }
    if (!r.done) throw new Error('trailing bytes');
    if (tables.length !== SCHEMAS.length) throw new Error('table count mismatch');
    return { index, tables };
  } catch (err) {
    if (err instanceof ShoalError) throw err;
    throw new ShoalError('InvalidArgument', `malformed store snapshot: ${(err as Error).message}`, { cause: err });
  }
}
