// Structural sharing between versions of stored objects. A task is written about eight times on
// its way to RUNNING, and all but its status stays the same: without sharing, every version
// decoded from the log carries its own copy of the spec, the annotations and the rest, and each
// replaced version leaves them behind as old-generation garbage (the leader's heap swung between
// 0.4 and 1.2 GB in a 100k-task deploy). Objects are decoded as usual, then every top-level field
// that is deeply equal to the same field of a model — the version it replaces, or another object
// of the same group created in the same entry (the tasks of one service) — is replaced by the
// model's (already frozen) value. The result is equal to what was decoded; only identities differ.
import type { Kind, Stored } from './schema.js';

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null;
}

/** Deep equality of protobuf-decoded plain data: objects, arrays, byte arrays, primitives. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!isObject(a) || !isObject(b)) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let n = 0;
  for (const k in ra) {
    if (!deepEqual(ra[k], rb[k])) return false;
    n++;
  }
  for (const _k in rb) n--;
  return n === 0;
}

/** Replaces obj's top-level object fields that deep-equal model's by model's (meta excepted). */
export function shareFields(obj: Stored, model: Stored): void {
  const o = obj as unknown as Record<string, unknown>;
  const m = model as unknown as Record<string, unknown>;
  for (const k in o) {
    if (k === 'meta') continue;
    const v = o[k];
    const mv = m[k];
    if (isObject(v) && isObject(mv) && v !== mv && deepEqual(v, mv)) o[k] = mv;
  }
}

/** What objects created in one entry (or restored from one snapshot) share: per kind and group. */
export class CreateModels {
  private readonly last = new Map<string, Stored>();

  private static group(kind: Kind, obj: Stored): string | undefined {
    // the tasks of one service are created from one spec; other kinds are few
    return kind === 'task' ? `task\u0000${(obj as { serviceId?: string }).serviceId ?? ''}` : undefined;
  }

  /** Shares fields with the previous object of obj's group (if any); obj becomes the group's model. */
  share(kind: Kind, obj: Stored): void {
    const g = CreateModels.group(kind, obj);
    if (g === undefined) return;
    const model = this.last.get(g);
    if (model) shareFields(obj, model);
    this.last.set(g, obj);
  }
}
