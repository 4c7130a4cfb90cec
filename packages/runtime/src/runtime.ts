// The Runtime interface: the only door to containers. One task = one container in its own
// sandbox (pod). The agent reconciles tasks through these calls; implementations are CriRuntime
// (containerd over CRI) and HollowRuntime (in memory, for scale tests).

/** A bind mount of a host path. */
export interface BindMount {
  type: 'bind';
  source: string;
  target: string;
  readOnly?: boolean;
}
/** A named volume: a host directory `<volumeRoot>/<name>` created on first use, kept after the task. */
export interface VolumeMount {
  type: 'volume';
  name: string;
  target: string;
  readOnly?: boolean;
}
/** A tmpfs private to the task; removed with the task. */
export interface TmpfsMount {
  type: 'tmpfs';
  target: string;
  sizeBytes?: number;
}
export type MountSpec = BindMount | VolumeMount | TmpfsMount;

export interface Ulimit {
  /** Name without the RLIMIT_ prefix, lower case as in Docker: nofile, nproc, core, ... */
  name: string;
  soft: number;
  hard: number;
}

export interface DnsConfig {
  servers?: string[];
  searches?: string[];
  options?: string[];
}

export type NetworkMode = 'none' | 'host' | 'bridge';

/**
 * Everything needed to run one task's container. Plain TypeScript; the agent maps the wire API
 * (protobuf TaskSpec/ContainerSpec) to it. Optional fields mean "image or runtime default".
 */
export interface TaskContainerSpec {
  taskId: string;
  serviceId: string;
  serviceName: string;
  /** Replica slot (replicated services); 0 for global services. */
  slot: number;
  nodeId: string;
  image: string;
  /** Replaces the image's ENTRYPOINT when non-empty. */
  command?: string[];
  /** Replaces the image's CMD when non-empty. */
  args?: string[];
  /** KEY=VALUE; a KEY without '=' is passed with an empty value. */
  env?: string[];
  dir?: string;
  /** "uid", "uid:gid", "name" or "name:gid" (group names are not resolved; use numbers). */
  user?: string;
  /** Supplementary groups: numeric gids. */
  groups?: string[];
  hostname?: string;
  /** Container labels; keys starting with io.shoal. are reserved. */
  labels?: Record<string, string>;
  mounts?: MountSpec[];
  /** "SIGTERM", "TERM", "SIGUSR1", or a number such as "15"; default SIGTERM. */
  stopSignal?: string;
  /** Time between the stop signal and SIGKILL; default 10 s. */
  stopGraceMs?: number;
  readOnly?: boolean;
  /** Run an init (the sandbox's reaper) as PID 1 that reaps zombies; the task's process is not PID 1. */
  init?: boolean;
  sysctls?: Record<string, string>;
  capAdd?: string[];
  capDrop?: string[];
  ulimits?: Ulimit[];
  tty?: boolean;
  stdin?: boolean;
  resources?: { nanoCpus?: number; memoryBytes?: number; pids?: number };
  network?: { mode: NetworkMode };
  dns?: DnsConfig;
  /** "host:ip" or "ip host" entries added to /etc/hosts (Docker's --add-host format is "host:ip"). */
  extraHosts?: string[];
}

/**
 * Identifies a prepared container. JSON-serializable so that the agent can persist it; list()
 * rebuilds the same handles from labels after a restart.
 */
export interface ContainerHandle {
  taskId: string;
  containerId: string;
  sandboxId: string;
}

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface ContainerInspect {
  state: ContainerState;
  /** Defined once exited. */
  exitCode: number | undefined;
  /** Milliseconds since the epoch. */
  startedAt: number | undefined;
  finishedAt: number | undefined;
  /** Short CamelCase reason from the runtime, e.g. "Completed", "Error", "OOMKilled". */
  reason: string;
  message: string;
  /** Host PID of the container's main process while running (when the runtime knows it). */
  pid?: number;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ContainerStats {
  /** Milliseconds since the epoch. */
  timestamp: number;
  cpuUsageNanos: number;
  memoryWorkingSetBytes: number;
  memoryUsageBytes?: number;
}

export type LogStream = 'stdout' | 'stderr';

export interface LogEntry {
  /** Milliseconds since the epoch (from the RFC3339Nano stamp). */
  time: number;
  /** The original RFC3339Nano timestamp, to keep nanoseconds. */
  timestamp: string;
  stream: LogStream;
  /** The full line, partial (P) fragments joined, without the trailing newline. */
  text: string;
}

export interface LogReadOptions {
  /** Only the last N entries (before following). */
  tail?: number;
  /** Only entries at or after this time (ms since the epoch). */
  since?: number;
  /** Only these streams (default both); `tail` counts the entries of these streams. */
  streams?: LogStream[];
  /** Keep reading new entries until the signal aborts or the container's log ends. */
  follow?: boolean;
  signal?: AbortSignal;
}

export interface RuntimeStatus {
  ready: boolean;
  /** Why not ready (empty when ready). */
  reason: string;
  /** Condition name -> status; for CRI: RuntimeReady, NetworkReady. */
  conditions: Record<string, boolean>;
}

export interface RuntimeVersion {
  runtimeName: string;
  runtimeVersion: string;
  apiVersion: string;
}

export interface RegistryAuth {
  username?: string;
  password?: string;
  /** base64(user:password) as in Docker's config.json. */
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

/** A container this runtime owns, found by its labels (for re-adoption after a restart). */
export interface OwnedContainer {
  handle: ContainerHandle;
  serviceId: string;
  slot: number;
  nodeId: string;
  state: ContainerState;
  createdAt: number;
  labels: Record<string, string>;
}

export interface StopOptions {
  /** Defaults to the spec's stopSignal, then SIGTERM. */
  signal?: string;
  /** Defaults to the spec's stopGraceMs, then 10 s. */
  graceMs?: number;
}

export interface Runtime {
  version(): Promise<RuntimeVersion>;
  status(): Promise<RuntimeStatus>;
  /** Pulls the image; resolves with the image's id/digest. */
  pullImage(ref: string, auth?: RegistryAuth): Promise<string>;
  imageExists(ref: string): Promise<boolean>;
  /** Creates the task's sandbox and its (not yet started) container. */
  prepare(task: TaskContainerSpec): Promise<ContainerHandle>;
  start(handle: ContainerHandle): Promise<void>;
  inspect(handle: ContainerHandle): Promise<ContainerInspect>;
  /** Sends the stop signal, waits up to graceMs for an exit, then kills. Idempotent. */
  stop(handle: ContainerHandle, opts?: StopOptions): Promise<void>;
  /** Removes container, sandbox and everything left on the host for it. Idempotent. */
  remove(handle: ContainerHandle): Promise<void>;
  exec(handle: ContainerHandle, cmd: string[], timeoutMs: number): Promise<ExecResult>;
  stats(handle: ContainerHandle): Promise<ContainerStats>;
  /** Host path of the container's CRI log file ('' for runtimes without files). */
  logPath(handle: ContainerHandle): Promise<string>;
  logs(handle: ContainerHandle, opts?: LogReadOptions): AsyncIterable<LogEntry>;
  /** Containers this runtime instance's owner (node) created, found by label. */
  list(): Promise<OwnedContainer[]>;
  /**
   * Removes what interrupted work left on the node for tasks that are neither in `keep` nor
   * have a container (a sandbox without container, task directories, pod cgroups); returns the
   * task ids cleaned. Optional: runtimes without host state need none.
   */
  prune?(keep: ReadonlySet<string>): Promise<string[]>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}

/** Labels Shoal puts on sandboxes and containers. */
export const LABELS = {
  managed: 'io.shoal.managed',
  taskId: 'io.shoal.task.id',
  serviceId: 'io.shoal.service.id',
  serviceName: 'io.shoal.service.name',
  slot: 'io.shoal.task.slot',
  nodeId: 'io.shoal.node.id',
  /** JSON of {signal, graceMs} so that stop() works on re-adopted containers. */
  stop: 'io.shoal.stop',
} as const;

export const DEFAULT_STOP_GRACE_MS = 10_000;
