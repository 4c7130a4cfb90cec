// Objects handed out by the store are deeply frozen: views, events and transactions share them
// without copying, and a caller that mutates one gets a TypeError instead of corrupting the store.
// To change an object, build a new one (`{...task, status: {...}}`) or `mutableCopy(obj)`.
// A frozen object met on the way is taken as deeply frozen already (one shared from an earlier
// version, see share.ts): objects are only ever frozen here, whole.
// Byte fields (Uint8Array) cannot be frozen; they are copied once here so that they do not alias
// the log entry they were decoded from. Do not write to them.

export function deepFreeze<T>(obj: T): T {
  freeze(obj as object);
  return obj;
}

// Buffer#slice does not copy; Uint8Array#slice does
const copyBytes = (v: Uint8Array): Uint8Array => Uint8Array.prototype.slice.call(v);

function freeze(o: object): void {
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      const v: unknown = o[i];
      if (typeof v === 'object' && v !== null) {
        if (v instanceof Uint8Array) o[i] = copyBytes(v);
        else if (!Object.isFrozen(v)) freeze(v);
      }
    }
  } else {
    const rec = o as Record<string, unknown>;
    for (const k in rec) {
      const v = rec[k];
      if (typeof v === 'object' && v !== null) {
        if (v instanceof Uint8Array) rec[k] = copyBytes(v);
        else if (!Object.isFrozen(v)) freeze(v);
      }
    }
  }
  Object.freeze(o);
}

/** A deep, unfrozen copy of a stored object, for callers that want to edit it in place. */
export function mutableCopy<T>(obj: T): T {
  return structuredClone(obj);
}
