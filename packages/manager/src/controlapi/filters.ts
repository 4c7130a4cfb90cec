// List filters of the Control API (names, name prefixes, id prefixes, labels).
import type { Annotations, ListFilters, Node, Task } from '@shoal/api';

export interface Filterable {
  id: string;
  name: string;
  labels: Record<string, string>;
}

export function matchFilters(o: Filterable, f: ListFilters | undefined): boolean {
  if (!f) return true;
  if (f.names.length > 0 && !f.names.includes(o.name)) return false;
  if (f.namePrefixes.length > 0 && !f.namePrefixes.some((p) => o.name.startsWith(p))) return false;
  if (f.idPrefixes.length > 0 && !f.idPrefixes.some((p) => o.id.startsWith(p))) return false;
  for (const [k, v] of Object.entries(f.labels ?? {})) {
    if (!(k in o.labels)) return false;
    if (v !== '' && o.labels[k] !== v) return false;
  }
  return true;
}

export function annotated(o: { id: string; spec?: { annotations?: Annotations | undefined } | undefined }): Filterable {
  return { id: o.id, name: o.spec?.annotations?.name ?? '', labels: o.spec?.annotations?.labels ?? {} };
}

export function nodeFilterable(n: Node): Filterable {
  return { id: n.id, name: n.spec?.annotations?.name || n.description?.hostname || '', labels: n.spec?.annotations?.labels ?? {} };
}

/** A task's name is "<service>.<slot>" (replicated) or "<service>.<node id>" (global), as in Docker. */
export function taskName(t: Task): string {
  if (t.annotations?.name) return t.annotations.name;
  const svc = t.serviceAnnotations?.name ?? t.serviceId;
  return t.slot > 0 ? `${svc}.${t.slot}` : `${svc}.${t.nodeId}`;
}

export function taskFilterable(t: Task): Filterable {
  return { id: t.id, name: taskName(t), labels: t.annotations?.labels ?? {} };
}
