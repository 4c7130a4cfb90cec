// Whether a task runs its service's current spec. Compared by content, not by version, as in
// SwarmKit: after a rollback the old spec comes back under a new version, and tasks that still
// run it must not be replaced again.
import type { Service, Task, TaskSpec } from '@shoal/api';

function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
}

const cache = new WeakMap<object, string>();
function key(spec: TaskSpec | undefined): string {
  if (!spec) return 'undefined';
  let k = cache.get(spec);
  if (k === undefined) {
    k = canonical(spec);
    cache.set(spec, k);
  }
  return k;
}

export function runsCurrentSpec(t: Task, s: Service): boolean {
  if (t.specVersion && s.specVersion && t.specVersion.index === s.specVersion.index) return true;
  return key(t.spec) === key(s.spec?.task);
}
