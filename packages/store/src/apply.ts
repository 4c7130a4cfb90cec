// Applying a committed entry: a pure function of (state, entry bytes, index). Every replica
// applies the same entries in the same order and so reaches the same state, accepts and rejects
// the same transactions, and emits the same events. No clock, no randomness: meta.version is the
// entry's index and createdAt/updatedAt come from the timestamp inside the entry.
import { ShoalError, type Meta } from '@shoal/api';
import type { Edit } from './btree.js';
import { asBuffer, decodeEntry } from './codec.js';
import { deepFreeze } from './freeze.js';
import { applyPatch } from './patch.js';
import { KIND_POS, schemaOf, type Stored } from './schema.js';
import { CreateModels, shareFields } from './share.js';
import { TableWriter } from './table.js';
import { conflict, notFound } from './tx.js';
import type { StoreState } from './view.js';
import type { ObjectEvent } from './watch.js';

export type ApplyOutcome =
  | { ok: true; state: StoreState; events: ObjectEvent[] }
  | { ok: false; state: StoreState; error: ShoalError };

/**
 * Applies entry at index. All-or-nothing: if any action fails (a stale version, a missing object,
 * a taken id or name, a malformed entry), the returned state is the old one with only its index
 * advanced, and the error says why.
 */
export function applyEntry(state: StoreState, entry: Uint8Array, index: number): ApplyOutcome {
  const rejected = (error: ShoalError): ApplyOutcome => ({ ok: false, state: { index, tables: state.tables }, error });
  if (entry.length === 0) return { ok: true, state: { index, tables: state.tables }, events: [] };
  let decoded;
  try {
    decoded = decodeEntry(asBuffer(entry));
  } catch (err) {
    return rejected(err as ShoalError);
  }
  const iso = new Date(decoded.timestamp).toISOString();
  const edit: Edit = { owner: 'edit' };
  const writers: (TableWriter<Stored> | undefined)[] = [];
  const events: ObjectEvent[] = [];
  const models = new CreateModels();
  try {
    for (const a of decoded.actions) {
      const pos = KIND_POS[a.kind];
      const w = (writers[pos] ??= new TableWriter(state.tables[pos]!, edit));
      const old = w.get(a.id);
      if (a.op === 'create') {
        if (old) throw new ShoalError('AlreadyExists', `${a.kind} ${a.id} already exists`);
      } else {
        if (!old) throw notFound(a.kind, a.id);
        const cv = old.meta?.version ?? 0;
        if ((a.op === 'update' || a.op === 'patch' || a.version !== 0) && a.version !== cv) throw conflict(a.kind, a.id, a.version, cv);
      }
      if (a.op === 'delete') {
        w.remove(old!);
        events.push({ action: 'delete', kind: a.kind, object: old, index } as ObjectEvent);
        continue;
      }
      let obj: Stored;
      if (a.op === 'patch') {
        // the fields it names over the version it was made from (checked above): the rest are
        // that version's frozen values already
        obj = applyPatch(a.kind, old!, a.fields ?? [], a.body!);
      } else {
        try {
          obj = schemaOf(a.kind).codec.decode(a.body!) as Stored;
        } catch (err) {
          throw new ShoalError('InvalidArgument', `${a.kind} ${a.id}: malformed object: ${(err as Error).message}`, { cause: err });
        }
        if (obj.id !== a.id) throw new ShoalError('InvalidArgument', `${a.kind} ${a.id}: object id ${obj.id} does not match`);
        // unchanged fields are the old version's (or a sibling's) frozen objects, not fresh copies
        if (old) shareFields(obj, old);
        else models.share(a.kind, obj);
      }
      const meta: Meta = { version: index, createdAt: old?.meta?.createdAt ?? iso, updatedAt: iso };
      obj.meta = meta;
      deepFreeze(obj);
      w.put(obj, old);
      events.push(
        old
          ? ({ action: 'update', kind: a.kind, object: obj, oldObject: old, index } as ObjectEvent)
          : ({ action: 'create', kind: a.kind, object: obj, index } as ObjectEvent),
      );
    }
  } catch (err) {
    if (err instanceof ShoalError) return rejected(err);
    return rejected(new ShoalError('Internal', `applying entry ${index}: ${(err as Error).message}`, { cause: err }));
  }
  const tables = state.tables.slice();
  for (let i = 0; i < writers.length; i++) {
    const w = writers[i];
    if (w) tables[i] = w.finish();
  }
  return { ok: true, state: { index, tables }, events };
}
