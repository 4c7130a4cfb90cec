// Pure mapping from a TaskContainerSpec to CRI PodSandboxConfig / ContainerConfig objects
// (protobufjs camelCase field names). No I/O here: host paths are passed in.
import { constants as osConstants } from 'node:os';
import { RuntimeError } from '../errors.js';
import { LABELS, DEFAULT_STOP_GRACE_MS, type TaskContainerSpec, type MountSpec } from '../runtime.js';

type Obj = Record<string, unknown>;

/** Runtime handler (containerd runtimes.<name>) used for network mode "none". */
export const NONE_NETWORK_HANDLER = 'shoal-none';

export interface HostPaths {
  /** cgroupfs path of the task's pod, e.g. /shoal/node1/<taskId>. */
  cgroupParent: string;
  /** Directory for the container's CRI log file. */
  logDirectory: string;
  /** Host directory for each volume mount, by volume name. */
  volumeDir: (name: string) => string;
  /** Host directory holding the task's tmpfs mount number i. */
  tmpfsDir: (index: number) => string;
  /** Our /etc/hosts for the container, when one is written (not for host network). */
  hostsFile?: string;
}

export const LOG_FILE = 'container.log';

export function invalid(field: string, reason: string): RuntimeError {
  return new RuntimeError('InvalidArgument', 'prepare', `${field}: ${reason}`);
}

/** "SIGTERM" | "TERM" | "15" -> canonical "SIGTERM" (validated against this OS's signals). */
export function normalizeSignal(sig: string | undefined, field = 'stopSignal'): NodeJS.Signals {
  const raw = (sig ?? 'SIGTERM').trim().toUpperCase();
  const signals = osConstants.signals as Record<string, number>;
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    const name = Object.keys(signals).find((k) => signals[k] === n);
    if (!name) throw invalid(field, `unknown signal number ${raw}`);
    return name as NodeJS.Signals;
  }
  const name = raw.startsWith('SIG') ? raw : `SIG${raw}`;
  if (!(name in signals)) throw invalid(field, `unknown signal ${sig}`);
  return name as NodeJS.Signals;
}

const NAME_SAFE = /[^a-zA-Z0-9_.-]/g;

export function podName(spec: TaskContainerSpec): string {
  const svc = (spec.serviceName || 'task').replace(NAME_SAFE, '-');
  return `${svc}.${spec.slot}.${spec.taskId}`.slice(0, 200);
}

export function shoalLabels(spec: TaskContainerSpec): Record<string, string> {
  return {
    [LABELS.managed]: 'true',
    [LABELS.taskId]: spec.taskId,
    [LABELS.serviceId]: spec.serviceId,
    [LABELS.serviceName]: spec.serviceName,
    [LABELS.slot]: String(spec.slot),
    [LABELS.nodeId]: spec.nodeId,
    [LABELS.stop]: JSON.stringify({ signal: normalizeSignal(spec.stopSignal), graceMs: spec.stopGraceMs ?? DEFAULT_STOP_GRACE_MS }),
  };
}

function isHostNetwork(spec: TaskContainerSpec): boolean {
  return spec.network?.mode === 'host';
}

export function validateSpec(spec: TaskContainerSpec): void {
  if (!spec.taskId || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(spec.taskId)) throw invalid('taskId', 'must be non-empty [a-zA-Z0-9_.-]');
  if (!spec.image) throw invalid('image', 'required');
  if (isHostNetwork(spec) && spec.hostname) throw invalid('hostname', 'cannot be set with network mode host');
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    if (!m.target.startsWith('/')) throw invalid(`mounts[${i}].target`, 'must be an absolute path');
    if (m.type === 'bind' && !m.source.startsWith('/')) throw invalid(`mounts[${i}].source`, 'must be an absolute path');
    if (m.type === 'volume' && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(m.name)) throw invalid(`mounts[${i}].name`, 'must be [a-zA-Z0-9_.-]');
  }
  for (const [i, e] of (spec.env ?? []).entries()) if (!e || e.startsWith('=')) throw invalid(`env[${i}]`, 'must be KEY=VALUE');
  for (const [i, g] of (spec.groups ?? []).entries()) if (!/^\d+$/.test(g)) throw invalid(`groups[${i}]`, 'must be a numeric gid');
  for (const [k] of Object.entries(spec.labels ?? {})) if (k.startsWith('io.shoal.')) throw invalid(`labels.${k}`, 'io.shoal. is reserved');
  const r = spec.resources;
  if (r?.nanoCpus !== undefined && r.nanoCpus < 0) throw invalid('resources.nanoCpus', 'must be >= 0');
  if (r?.memoryBytes !== undefined && r.memoryBytes !== 0 && r.memoryBytes < 4 * 1024 * 1024) throw invalid('resources.memoryBytes', 'must be 0 or >= 4 MiB');
  if (r?.pids !== undefined && r.pids < 0) throw invalid('resources.pids', 'must be >= 0');
  normalizeSignal(spec.stopSignal);
  parseUser(spec.user);
  for (const [i, u] of (spec.ulimits ?? []).entries()) if (!ULIMIT_NAMES.has(u.name)) throw invalid(`ulimits[${i}].name`, `unknown ulimit ${u.name}`);
}

export const ULIMIT_NAMES = new Set(['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);

/** "uid", "uid:gid", "name", "name:gid" -> CRI security context fields. */
export function parseUser(user: string | undefined): Obj {
  if (!user) return {};
  const [u, g, extra] = user.split(':');
  if (extra !== undefined || !u) throw invalid('user', `bad user "${user}"`);
  const out: Obj = /^\d+$/.test(u) ? { runAsUser: { value: Number(u) } } : { runAsUsername: u };
  if (g !== undefined) {
    if (!/^\d+$/.test(g)) throw invalid('user', `group "${g}" must be numeric (group names are not resolved)`);
    out.runAsGroup = { value: Number(g) };
  }
  return out;
}

function namespaceOptions(spec: TaskContainerSpec): Obj {
  return {
    network: isHostNetwork(spec) ? 'NODE' : 'POD',
    // init: share the pod PID namespace so that the sandbox's reaper loop is PID 1 and reaps
    // orphans; otherwise the task's process is PID 1 of its own namespace (Docker's default).
    pid: spec.init ? 'POD' : 'CONTAINER',
    ipc: 'POD',
  };
}

export function runtimeHandler(spec: TaskContainerSpec): string {
  return spec.network?.mode === 'none' ? NONE_NETWORK_HANDLER : '';
}

export function sandboxConfig(spec: TaskContainerSpec, paths: HostPaths): Obj {
  const dns = spec.dns;
  return {
    metadata: { name: podName(spec), uid: spec.taskId, namespace: 'shoal', attempt: 0 },
    hostname: isHostNetwork(spec) ? '' : (spec.hostname || spec.taskId.slice(0, 12)),
    logDirectory: paths.logDirectory,
    dnsConfig: dns ? { servers: dns.servers ?? [], searches: dns.searches ?? [], options: dns.options ?? [] } : null,
    portMappings: [],
    labels: shoalLabels(spec),
    annotations: {},
    linux: {
      cgroupParent: paths.cgroupParent,
      sysctls: spec.sysctls ?? {},
      securityContext: { namespaceOptions: namespaceOptions(spec), privileged: false },
    },
  };
}

function criMount(m: MountSpec, i: number, paths: HostPaths): Obj {
  switch (m.type) {
    case 'bind':
      return { containerPath: m.target, hostPath: m.source, readonly: !!m.readOnly, propagation: 'PROPAGATION_PRIVATE' };
    case 'volume':
      return { containerPath: m.target, hostPath: paths.volumeDir(m.name), readonly: !!m.readOnly, propagation: 'PROPAGATION_PRIVATE' };
    case 'tmpfs':
      // CRI has no tmpfs mount type: a host tmpfs (size-limited) is bind-mounted instead.
      return { containerPath: m.target, hostPath: paths.tmpfsDir(i), readonly: false, propagation: 'PROPAGATION_PRIVATE' };
  }
}

/**
 * CRI capability names have no CAP_ prefix: containerd 1.6 prepends "CAP_" itself (so
 * "CAP_NET_ADMIN" would become the unknown "CAP_CAP_NET_ADMIN"). "ALL" stays as is.
 */
function capName(c: string): string {
  return c.trim().toUpperCase().replace(/^CAP_/, '');
}

export function containerConfig(spec: TaskContainerSpec, paths: HostPaths, imageRef: string): Obj {
  const envs = (spec.env ?? []).map((e) => {
    const i = e.indexOf('=');
    return i < 0 ? { key: e, value: '' } : { key: e.slice(0, i), value: e.slice(i + 1) };
  });
  const mounts = (spec.mounts ?? []).map((m, i) => criMount(m, i, paths));
  if (paths.hostsFile && !mounts.some((m) => m.containerPath === '/etc/hosts')) {
    mounts.push({ containerPath: '/etc/hosts', hostPath: paths.hostsFile, readonly: false, propagation: 'PROPAGATION_PRIVATE' });
  }
  const r = spec.resources ?? {};
  const resources: Obj = {};
  if (r.nanoCpus) {
    resources.cpuPeriod = 100_000;
    resources.cpuQuota = Math.max(1000, Math.round((r.nanoCpus * 100_000) / 1e9));
  }
  if (r.memoryBytes) resources.memoryLimitInBytes = r.memoryBytes;
  return {
    metadata: { name: (spec.serviceName || 'task').replace(NAME_SAFE, '-'), attempt: 0 },
    image: { image: imageRef },
    command: spec.command ?? [],
    args: spec.args ?? [],
    workingDir: spec.dir ?? '',
    envs,
    mounts,
    labels: { ...(spec.labels ?? {}), ...shoalLabels(spec) },
    annotations: {},
    logPath: LOG_FILE,
    stdin: !!spec.stdin,
    stdinOnce: false,
    tty: !!spec.tty,
    linux: {
      resources,
      securityContext: {
        capabilities: { addCapabilities: (spec.capAdd ?? []).map(capName), dropCapabilities: (spec.capDrop ?? []).map(capName) },
        privileged: false,
        namespaceOptions: namespaceOptions(spec),
        readonlyRootfs: !!spec.readOnly,
        supplementalGroups: (spec.groups ?? []).map(Number),
        ...parseUser(spec.user),
      },
    },
  };
}

/** /etc/hosts content for a task on a private network namespace. */
export function hostsFileContent(spec: TaskContainerSpec, ip: string | undefined, hostname: string): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  if (ip) lines.push(`${ip}\t${hostname}`);
  else lines.push(`127.0.1.1\t${hostname}`);
  for (const h of spec.extraHosts ?? []) {
    // Docker's "host:ip" (ip may be IPv6 with colons), or "ip host".
    const sp = h.trim().split(/\s+/);
    if (sp.length >= 2) lines.push(`${sp[0]}\t${sp.slice(1).join(' ')}`);
    else {
      const i = h.indexOf(':');
      if (i <= 0) throw invalid('extraHosts', `bad entry "${h}" (want host:ip)`);
      lines.push(`${h.slice(i + 1)}\t${h.slice(0, i)}`);
    }
  }
  return lines.join('\n') + '\n';
}
