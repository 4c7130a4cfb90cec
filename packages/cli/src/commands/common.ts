// Helpers shared by the commands: connection from global options, --filter parsing, name lookup.
import { parseDurationMs, ListFilters } from '@shoal/api';
import type { Command } from 'commander';
import { Control, defaultHost } from '../client.js';
import { CliError, usageError } from '../errors.js';

export interface Globals {
  host: string;
  timeout: string;
}

export function globals(cmd: Command): Globals {
  const o = cmd.optsWithGlobals<Partial<Globals>>();
  return { host: o.host ?? defaultHost(), timeout: o.timeout ?? '10s' };
}

let current: Control | undefined;

/** The Control client for this invocation (one channel per process). */
export function control(cmd: Command): Control {
  if (current) return current;
  const g = globals(cmd);
  let ms: number;
  try {
    ms = parseDurationMs(g.timeout);
  } catch (e) {
    throw usageError(`--timeout: ${(e as Error).message}`);
  }
  current = new Control(g.host, ms);
  return current;
}

export function closeControl(): void {
  current?.close();
  current = undefined;
}

export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** --filter key=value (repeatable) -> map of key -> values. */
export function parseFilters(raw: string[] | undefined, allowed: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of raw ?? []) {
    const at = f.indexOf('=');
    if (at <= 0) throw usageError(`bad filter "${f}" (expected key=value)`);
    const k = f.slice(0, at);
    if (!allowed.includes(k)) throw usageError(`invalid filter "${k}" (allowed: ${allowed.join(', ')})`);
    out.set(k, [...(out.get(k) ?? []), f.slice(at + 1)]);
  }
  return out;
}

/** name=, id=, label= filters to the API's ListFilters. */
export function listFilters(f: Map<string, string[]>): ListFilters {
  const labels: Record<string, string> = {};
  for (const l of f.get('label') ?? []) {
    const at = l.indexOf('=');
    if (at < 0) labels[l] = '';
    else labels[l.slice(0, at)] = l.slice(at + 1);
  }
  return ListFilters.fromJSON({ namePrefixes: f.get('name') ?? [], idPrefixes: f.get('id') ?? [], labels });
}

/** Parse "k=v" (or "k") pairs. */
export function kv(items: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of items ?? []) {
    const at = s.indexOf('=');
    if (at < 0) out[s] = '';
    else out[s.slice(0, at)] = s.slice(at + 1);
  }
  return out;
}

/** Pick exactly one object by exact id, exact name, or unique id prefix. */
export function pickOne<T extends { id: string }>(kind: string, ref: string, items: readonly T[], name: (x: T) => string): T {
  const exact = items.find((x) => x.id === ref) ?? items.find((x) => name(x) === ref);
  if (exact) return exact;
  const byPrefix = items.filter((x) => x.id.startsWith(ref));
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) throw new CliError(`${kind} "${ref}" is ambiguous (${byPrefix.length} matches)`);
  throw new CliError(`${kind} "${ref}" not found`);
}

export function json(x: unknown): void {
  process.stdout.write(`${JSON.stringify(x, null, 2)}\n`);
}

