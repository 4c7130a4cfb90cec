// Builders for nodes and tasks in scheduler/orchestrator tests (plain data, all defaults filled).
import {
  HealthState,
  NodeAvailability,
  NodeRole,
  NodeState,
  PublishMode,
  PortProtocol,
  TaskState,
  type Node,
  type Task,
  type TaskSpec,
} from '@shoal/api';

export interface NodeOpts {
  hostname?: string;
  state?: NodeState;
  availability?: NodeAvailability;
  role?: NodeRole;
  labels?: Record<string, string>;
  engineLabels?: Record<string, string>;
  os?: string;
  arch?: string;
  cpu?: number;
  mem?: number;
  addr?: string;
}

export const GB = 1024 ** 3;
export const CPU = 1e9;

export function node(id: string, o: NodeOpts = {}): Node {
  return {
    id,
    meta: { version: 1 },
    spec: { annotations: { name: id, labels: o.labels ?? {} }, desiredRole: o.role ?? NodeRole.WORKER, availability: o.availability ?? NodeAvailability.ACTIVE },
    description: {
      hostname: o.hostname ?? `host-${id}`,
      platform: { os: o.os ?? 'linux', architecture: o.arch ?? 'amd64' },
      resources: { nanoCpus: o.cpu ?? 4 * CPU, memoryBytes: o.mem ?? 8 * GB, pids: 0 },
      engineVersion: '1.0',
      engineLabels: o.engineLabels ?? {},
    },
    status: { state: o.state ?? NodeState.NODE_READY, message: '', addr: o.addr ?? '10.0.0.1' },
    managerStatus: undefined,
    role: o.role ?? NodeRole.WORKER,
    dataPathAddr: '',
  };
}

export interface SpecOpts {
  constraints?: string[];
  preferences?: string[];
  maxReplicas?: number;
  platforms?: Array<{ os: string; architecture: string }>;
  cpu?: number;
  mem?: number;
}

export function taskSpec(o: SpecOpts = {}): TaskSpec {
  return {
    container: undefined,
    resources: { limits: undefined, reservations: { nanoCpus: o.cpu ?? 0, memoryBytes: o.mem ?? 0, pids: 0 } },
    restart: undefined,
    placement: {
      constraints: o.constraints ?? [],
      preferences: (o.preferences ?? []).map((spreadDescriptor) => ({ spreadDescriptor })),
      maxReplicas: o.maxReplicas ?? 0,
      platforms: o.platforms ?? [],
    },
    logDriver: undefined,
    networks: [],
    forceUpdate: 0,
  };
}

export interface TaskOpts extends SpecOpts {
  serviceId?: string;
  slot?: number;
  nodeId?: string;
  state?: TaskState;
  desired?: TaskState;
  specVersion?: number;
  hostPorts?: number[];
  spec?: TaskSpec;
}

export function task(id: string, o: TaskOpts = {}): Task {
  return {
    id,
    meta: { version: 1 },
    spec: o.spec ?? taskSpec(o),
    specVersion: { index: o.specVersion ?? 1 },
    serviceId: o.serviceId ?? 'svc',
    slot: o.slot ?? 1,
    nodeId: o.nodeId ?? '',
    annotations: undefined,
    serviceAnnotations: undefined,
    status: { state: o.state ?? TaskState.PENDING, message: '', err: '', health: HealthState.HEALTH_NONE, appliedBy: '' },
    desiredState: o.desired ?? TaskState.RUNNING,
    networks: [],
    endpoint: o.hostPorts
      ? {
          spec: undefined,
          ports: o.hostPorts.map((p) => ({ name: '', protocol: PortProtocol.TCP, targetPort: 80, publishedPort: p, publishMode: PublishMode.HOST })),
          virtualIps: [],
        }
      : undefined,
    logDriver: undefined,
    jobIteration: undefined,
    restartAttempt: 0,
  };
}

/** n pending tasks of one service: ids `${prefix}1..n`. */
export function pendingTasks(n: number, prefix: string, o: TaskOpts = {}): Task[] {
  return Array.from({ length: n }, (_, i) => task(`${prefix}${i + 1}`, { slot: i + 1, ...o }));
}

/** A task already running on a node. */
export function running(id: string, nodeId: string, o: TaskOpts = {}): Task {
  return task(id, { ...o, nodeId, state: o.state ?? TaskState.RUNNING });
}

export function countBy<T>(xs: readonly T[], f: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[f(x)] = (out[f(x)] ?? 0) + 1;
  return out;
}
