// The filter pipeline: what a node must satisfy to take a task of a group, in order, and how a
// failure is explained. A node is charged to the FIRST filter it fails (as in SwarmKit), so the
// "no suitable node (...)" message adds up to the number of nodes.
import { NodeAvailability, NodeState, PublishMode, PortProtocol, type Node, type Platform, type Task } from '@shoal/api';
import { cachedConstraints, matchConstraints, normalizeArch, normalizeOs, type Constraint } from './constraint.js';

/** Aggregated per-node state the scheduler keeps (counts and reservations of assigned tasks). */
export interface NodeInfo {
  node: Node;
  totalCpu: number;
  totalMem: number;
  reservedCpu: number;
  reservedMem: number;
  /** non-terminal tasks with desired state <= RUNNING assigned here (spread: fewest overall) */
  activeTasks: number;
  /** the same, per service */
  byService: Map<string, number>;
  /** host-mode published ports in use, "tcp/80" -> number of tasks holding it */
  hostPorts: Map<string, number>;
}

/** What the filters need to know about a group of identical pending tasks. */
export interface TaskRequirements {
  serviceId: string;
  cpu: number;
  mem: number;
  constraints: Constraint[];
  platforms: Platform[];
  /** host-mode published ports, "tcp/80" */
  hostPorts: string[];
  /** 0 = unlimited */
  maxReplicas: number;
}

export type FilterReason = 'unavailable' | 'cpu' | 'memory' | 'constraints' | 'platform' | 'hostPort' | 'maxReplicas';

/** Pipeline order; also the order reasons appear in explanations. */
export const REASON_ORDER: readonly FilterReason[] = ['unavailable', 'cpu', 'memory', 'constraints', 'platform', 'hostPort', 'maxReplicas'];

export function explainReason(reason: FilterReason, n: number): string {
  const nodes = n === 1 ? '1 node' : `${n} nodes`;
  switch (reason) {
    case 'unavailable':
      return `${nodes} not available for new tasks`;
    case 'cpu':
      return `${nodes} ${n === 1 ? 'has' : 'have'} insufficient CPU`;
    case 'memory':
      return `${nodes} ${n === 1 ? 'has' : 'have'} insufficient memory`;
    case 'constraints':
      return `scheduling constraints not satisfied on ${nodes}`;
    case 'platform':
      return `unsupported platform on ${nodes}`;
    case 'hostPort':
      return `host-mode port already in use on ${nodes}`;
    case 'maxReplicas':
      return `max replicas per node limit reached on ${nodes}`;
  }
}

/** "no suitable node (2 nodes not available for new tasks; 1 node has insufficient memory)" */
export function explain(counts: ReadonlyMap<FilterReason, number>): string {
  const parts: string[] = [];
  for (const r of REASON_ORDER) {
    const n = counts.get(r) ?? 0;
    if (n > 0) parts.push(explainReason(r, n));
  }
  return parts.length === 0 ? 'no suitable node' : `no suitable node (${parts.join('; ')})`;
}

export function requirementsOf(task: Task): TaskRequirements {
  const spec = task.spec;
  const res = spec?.resources?.reservations;
  const placement = spec?.placement;
  return {
    serviceId: task.serviceId,
    cpu: res?.nanoCpus ?? 0,
    mem: res?.memoryBytes ?? 0,
    constraints: cachedConstraints(placement?.constraints ?? []),
    platforms: placement?.platforms ?? [],
    hostPorts: taskHostPorts(task),
    maxReplicas: placement?.maxReplicas ?? 0,
  };
}

const PROTO: Record<number, string> = { [PortProtocol.TCP]: 'tcp', [PortProtocol.UDP]: 'udp', [PortProtocol.SCTP]: 'sctp' };

/** Host-mode published ports of a task: the allocated ones, else those of the endpoint spec. */
export function taskHostPorts(task: Task): string[] {
  const ports = task.endpoint?.ports.length ? task.endpoint.ports : (task.endpoint?.spec?.ports ?? []);
  const out: string[] = [];
  for (const p of ports) {
    if (p.publishMode === PublishMode.HOST && p.publishedPort !== 0) out.push(`${PROTO[p.protocol] ?? 'tcp'}/${p.publishedPort}`);
  }
  return out;
}

// ---------------------------------------------------------------- the filters

/** The full pipeline, in REASON_ORDER: the first filter the node fails, or undefined if it fits. */
export function filterNode(info: NodeInfo, req: TaskRequirements): FilterReason | undefined {
  const node = info.node;
  if (node.status?.state !== NodeState.NODE_READY) return 'unavailable';
  if ((node.spec?.availability ?? NodeAvailability.ACTIVE) !== NodeAvailability.ACTIVE) return 'unavailable';
  const dyn = resourceFilter(info, req);
  if (dyn) return dyn;
  if (req.constraints.length > 0 && !matchConstraints(req.constraints, node)) return 'constraints';
  if (req.platforms.length > 0 && !platformMatches(req.platforms, node)) return 'platform';
  return portAndReplicaFilter(info, req);
}

/** Filters whose outcome changes as tasks are placed (re-checked before every placement). */
export function dynamicFilter(info: NodeInfo, req: TaskRequirements): FilterReason | undefined {
  return resourceFilter(info, req) ?? portAndReplicaFilter(info, req);
}

function resourceFilter(info: NodeInfo, req: TaskRequirements): FilterReason | undefined {
  if (req.cpu > 0 && info.totalCpu - info.reservedCpu < req.cpu) return 'cpu';
  if (req.mem > 0 && info.totalMem - info.reservedMem < req.mem) return 'memory';
  return undefined;
}

function portAndReplicaFilter(info: NodeInfo, req: TaskRequirements): FilterReason | undefined {
  for (const p of req.hostPorts) if ((info.hostPorts.get(p) ?? 0) > 0) return 'hostPort';
  if (req.maxReplicas > 0 && (info.byService.get(req.serviceId) ?? 0) >= req.maxReplicas) return 'maxReplicas';
  return undefined;
}

export function platformMatches(platforms: readonly Platform[], node: Node): boolean {
  const os = normalizeOs(node.description?.platform?.os ?? '');
  const arch = normalizeArch(node.description?.platform?.architecture ?? '');
  for (const p of platforms) {
    const wantOs = normalizeOs(p.os);
    const wantArch = normalizeArch(p.architecture);
    if ((wantOs === '' || wantOs === os) && (wantArch === '' || wantArch === arch)) return true;
  }
  return false;
}
