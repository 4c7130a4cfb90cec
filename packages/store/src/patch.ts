// Patches: an update that carries only the top-level fields it changes (see codec.ts). The
// transaction names the fields whose values are not the very ones of the version it read (a
// caller that writes `{...task, status}` changes one field); apply takes the version it replaces
// and puts the patch's fields over it. The result is the object a full update would have given.
import { ShoalError } from '@shoal/api';
import { schemaOf, type Kind, type Stored } from './schema.js';

const empties = new Map<Kind, Record<string, unknown>>();

/** The kind's object with every field at its default (what decoding no bytes gives). */
function emptyOf(kind: Kind): Record<string, unknown> {
  let e = empties.get(kind);
  if (!e) empties.set(kind, (e = schemaOf(kind).codec.decode(new Uint8Array(0)) as unknown as Record<string, unknown>));
  return e;
}

/** Top-level fields (id and meta aside) whose value in `next` is not the one in `cur`. */
export function changedFields(cur: Stored, next: Stored): string[] {
  const a = cur as unknown as Record<string, unknown>;
  const b = next as unknown as Record<string, unknown>;
  const out: string[] = [];
  for (const k in b) if (k !== 'meta' && k !== 'id' && b[k] !== a[k]) out.push(k);
  for (const k in a) if (k !== 'meta' && k !== 'id' && !(k in b) && a[k] !== undefined) out.push(k);
  return out;
}

/** Protobuf bytes of an object of the kind that holds `fields` of obj and nothing else. */
export function encodePatch(kind: Kind, obj: Stored, fields: readonly string[]): Uint8Array {
  const bare: Record<string, unknown> = { ...emptyOf(kind) };
  const o = obj as unknown as Record<string, unknown>;
  for (const f of fields) bare[f] = o[f];
  return schemaOf(kind).codec.encode(bare as never).finish();
}

/** `base` with `fields` replaced by those decoded from `body` (a new object; base is not changed). */
export function applyPatch(kind: Kind, base: Stored, fields: readonly string[], body: Uint8Array): Stored {
  let partial: Record<string, unknown>;
  try {
    partial = schemaOf(kind).codec.decode(body) as unknown as Record<string, unknown>;
  } catch (err) {
    throw new ShoalError('InvalidArgument', `${kind} ${base.id}: malformed patch: ${(err as Error).message}`, { cause: err });
  }
  const out = { ...(base as unknown as Record<string, unknown>) };
  for (const f of fields) {
    if (f === 'id' || f === 'meta' || !(f in partial)) throw new ShoalError('InvalidArgument', `${kind} ${base.id}: a patch cannot set field ${JSON.stringify(f)}`);
    out[f] = partial[f];
  }
  return out as unknown as Stored;
}
