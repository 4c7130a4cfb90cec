// Small helpers shared by the spec validators: a collector of field errors with paths,
// name rules, durations, integers and CIDR arithmetic.
import { isIP, BlockList } from 'node:net';
import { invalidArgument, type Annotations, type Duration, type ShoalError } from '@shoal/api';

/** One problem with a spec: the field path (relative to the spec) and the reason. */
export interface FieldError {
  field: string;
  reason: string;
}

/** Collects field errors while walking a spec. */
export class Issues {
  readonly list: FieldError[] = [];
  add(field: string, reason: string): void {
    this.list.push({ field, reason });
  }
  get ok(): boolean {
    return this.list.length === 0;
  }
}

/** Throw InvalidArgument naming the first problem's field (the message lists them all). */
export function throwIfInvalid(issues: readonly FieldError[], prefix = ''): void {
  const first = issues[0];
  if (!first) return;
  const path = (f: string): string => (prefix ? `${prefix}.${f}` : f);
  const err: ShoalError = invalidArgument(path(first.field), first.reason);
  if (issues.length > 1) {
    const rest = issues.slice(1).map((i) => `${path(i.field)}: ${i.reason}`);
    err.message = `${err.message} (also: ${rest.join('; ')})`;
  }
  throw err;
}

// Service names: a DNS label, allowing "_" inside (as SwarmKit does, for stack_service names).
const SERVICE_NAME_RE = /^[a-zA-Z0-9](?:[-_]*[a-zA-Z0-9]+)*$/;
// Secret and config names (SwarmKit's rule).
const OBJECT_NAME_RE = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/;
// Network names (Docker's rule).
const NETWORK_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function checkServiceName(issues: Issues, field: string, name: string): void {
  if (name === '') return issues.add(field, 'name is required');
  if (name.length > 63) return issues.add(field, `name "${name}" is longer than 63 characters`);
  if (!SERVICE_NAME_RE.test(name)) {
    issues.add(field, `name "${name}" must be a DNS label: letters, digits, "-" and "_" inside, starting and ending with a letter or digit`);
  }
}

export function checkObjectName(issues: Issues, field: string, name: string, what: string): void {
  if (name === '') return issues.add(field, `${what} name is required`);
  if (name.length > 64) return issues.add(field, `${what} name "${name}" is longer than 64 characters`);
  if (!OBJECT_NAME_RE.test(name)) {
    issues.add(field, `${what} name "${name}" may contain only letters, digits, "-", "_" and ".", starting and ending with a letter or digit`);
  }
}

export function checkNetworkName(issues: Issues, field: string, name: string): void {
  if (name === '') return issues.add(field, 'network name is required');
  if (name.length > 128) return issues.add(field, `network name "${name}" is longer than 128 characters`);
  if (!NETWORK_NAME_RE.test(name)) {
    issues.add(field, `network name "${name}" may contain only letters, digits, "_", "." and "-", starting with a letter or digit`);
  }
}

export function checkLabels(issues: Issues, field: string, labels: Record<string, string> | undefined): void {
  for (const key of Object.keys(labels ?? {})) {
    if (key.trim() === '') issues.add(field, 'label key is empty');
    else if (/[\s=]/.test(key)) issues.add(`${field}[${JSON.stringify(key)}]`, `label key "${key}" contains whitespace or "="`);
  }
}

export function checkAnnotationsLabels(issues: Issues, field: string, a: Annotations | undefined): void {
  checkLabels(issues, `${field}.labels`, a?.labels);
}

/** A Duration that must not be negative (unset is fine). */
export function checkDuration(issues: Issues, field: string, d: Duration | undefined, opts: { minMs?: number } = {}): void {
  if (!d) return;
  if (!Number.isFinite(d.seconds) || !Number.isFinite(d.nanos)) return issues.add(field, 'not a finite duration');
  if (d.seconds < 0 || d.nanos < 0) return issues.add(field, 'must not be negative');
  const ms = d.seconds * 1000 + d.nanos / 1e6;
  if (opts.minMs !== undefined && ms < opts.minMs) issues.add(field, `must be at least ${opts.minMs} ms`);
}

/** A non-negative safe integer (the generated code maps 64-bit fields to numbers). */
export function checkCount(issues: Issues, field: string, n: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(n) || n < 0) return issues.add(field, `must be a non-negative integer (got ${n})`);
  if (n > max) issues.add(field, `must be at most ${max} (got ${n})`);
}

// ---------------------------------------------------------------- addresses

export interface Cidr {
  family: 'ipv4' | 'ipv6';
  addr: string;
  bits: number;
}

/** Parse "10.0.1.0/24" or "fd00::/64"; undefined when it is not a CIDR network. */
export function parseCidr(text: string): Cidr | undefined {
  const parts = text.split('/');
  if (parts.length !== 2) return undefined;
  const [addr, bitsText] = parts as [string, string];
  const v = isIP(addr);
  if (v === 0 || !/^\d{1,3}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > (v === 4 ? 32 : 128)) return undefined;
  return { family: v === 4 ? 'ipv4' : 'ipv6', addr, bits };
}

/** Whether `addr` (an address) lies inside the network `net`. */
export function cidrContains(net: Cidr, addr: string): boolean {
  const v = isIP(addr);
  if (v === 0 || (v === 4) !== (net.family === 'ipv4')) return false;
  const bl = new BlockList();
  bl.addSubnet(net.addr, net.bits, net.family);
  return bl.check(addr, net.family);
}

/** Whether the network `inner` lies inside the network `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && inner.bits >= outer.bits && cidrContains(outer, inner.addr);
}

/** Whether two networks overlap (one contains the other's base address). */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && (cidrContains(a, b.addr) || cidrContains(b, a.addr));
}

/** Whether the address bits past the prefix are zero (10.0.1.0/24, not 10.0.1.5/24). */
export function cidrIsNetworkAddress(net: Cidr): boolean {
  if (net.family === 'ipv4') {
    const n = net.addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const hostBits = 32 - net.bits;
    return hostBits === 0 || n % 2 ** hostBits === 0;
  }
  return true; // IPv6 host bits are not checked; the allocator masks them
}

/** Whether `v` is a known value of a generated enum (UNRECOGNIZED = -1 is not). */
export function isEnumValue(e: object, v: number): boolean {
  return Number.isInteger(v) && v >= 0 && Object.values(e).includes(v);
}
