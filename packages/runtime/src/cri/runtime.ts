// CriRuntime: the Runtime interface over containerd's CRI API (runtime.v1, containerd 1.6).
// One pod sandbox per task. Stateless apart from the gRPC channel: every path is derived from
// (stateRoot, taskId) and every fact needed later is in CRI labels, so a fresh instance can
// re-adopt containers after a restart and concurrent calls do not share mutable state.
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RuntimeError, fromGrpcError } from '../errors.js';
import { readCriLogFile } from '../logs.js';
import {
  DEFAULT_STOP_GRACE_MS, LABELS,
  type ContainerHandle, type ContainerInspect, type ContainerState, type ContainerStats, type ExecResult,
  type LogEntry, type LogReadOptions, type OwnedContainer, type RegistryAuth, type Runtime, type RuntimeStatus,
  type RuntimeVersion, type StopOptions, type TaskContainerSpec,
} from '../runtime.js';
import { connectCri, type CriClient } from './client.js';
import {
  LOG_FILE, containerConfig, hostsFileContent, normalizeSignal, runtimeHandler, sandboxConfig, validateSpec,
  type HostPaths,
} from './config.js';
import { applyUlimits, cgroupChildren, mountTmpfs, presetPidsLimit, removeCgroupTree, removeTaskDir } from './host.js';

export interface CriRuntimeOptions {
  /** containerd's socket: a path or unix:// URL. */
  endpoint: string;
  /** Host directory for per-task files (logs, hosts, tmpfs) and named volumes. */
  stateRoot: string;
  /** cgroupfs parent of all task pods, e.g. "/shoal" or "/shoal/<node>". */
  cgroupRoot: string;
  /** When set, list() returns only containers labelled with this node id. */
  nodeId?: string;
  /** Deadline for ordinary CRI calls (default 2 min; PullImage gets 10 min). */
  callTimeoutMs?: number;
  /**
   * How long an image seen present is taken as present without asking containerd again
   * (default 60 s; 0 asks every time). The agent asks before every task's prepare, and so does
   * prepare itself; a failed prepare forgets the image at once.
   */
  imageCacheMs?: number;
  /** Clock for stop-wait polling (tests may inject); default real time. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const run = promisify(execFile);
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const STATE: Record<string, ContainerState> = {
  CONTAINER_CREATED: 'created',
  CONTAINER_RUNNING: 'running',
  CONTAINER_EXITED: 'exited',
  CONTAINER_UNKNOWN: 'unknown',
};

const nsToMs = (ns: unknown): number | undefined => (typeof ns === 'number' && ns > 0 ? Math.floor(ns / 1e6) : undefined);

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (code === 5) return true;
  const msg = String((e as { details?: unknown; message?: unknown })?.details ?? (e as Error)?.message ?? '');
  return /not found|does not exist/i.test(msg);
}

/**
 * RegistryAuth -> CRI AuthConfig. containerd 1.6 url-parses server_address and uses the
 * credentials only when its host is the image's registry host, so a Docker-style address
 * without a scheme ("127.0.0.1:5000", which Go cannot parse) gets one.
 */
export function criAuth(auth: RegistryAuth | undefined): Obj | null {
  if (!auth) return null;
  const out: Obj = { ...auth };
  const addr = auth.serverAddress?.trim();
  if (addr) out.serverAddress = /^[a-z][a-z0-9+.-]*:\/\//i.test(addr) ? addr : `https://${addr}`;
  return out;
}

/** The host PID of a container's main process from a verbose ContainerStatus answer. */
function pidOf(verboseStatus: Obj): number | undefined {
  try {
    const info = JSON.parse(verboseStatus.info?.info ?? '{}') as { pid?: number };
    return info.pid && info.pid > 0 ? info.pid : undefined;
  } catch {
    return undefined;
  }
}

export class CriRuntime implements Runtime {
  private readonly cri: CriClient;
  private readonly opts: Required<Omit<CriRuntimeOptions, 'nodeId'>> & { nodeId?: string };
  /**
   * Host PID of each running container's main process, learnt once from the verbose
   * ContainerStatus (which marshals the whole OCI spec: heavy for containerd and for us); 0 for
   * a container seen exited. A CRI container never restarts under the same id, so the PID holds
   * until it exits, and an exited one stays exited. Without this cache every inspect of a
   * running task would be verbose.
   */
  private readonly pids = new Map<string, number>();
  /** Image refs seen present, with the time they were seen (see imageCacheMs). */
  private readonly images = new Map<string, number>();

  constructor(opts: CriRuntimeOptions) {
    this.opts = {
      callTimeoutMs: 120_000,
      imageCacheMs: 60_000,
      now: () => Date.now(),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      ...opts,
    };
    this.cri = connectCri(opts.endpoint, this.opts.callTimeoutMs);
  }

  // ---------- paths ----------
  taskDir(taskId: string): string {
    return join(this.opts.stateRoot, 'tasks', taskId);
  }
  podCgroup(taskId: string): string {
    return `${this.opts.cgroupRoot.replace(/\/+$/, '')}/${taskId}`;
  }
  private paths(spec: TaskContainerSpec): HostPaths {
    const dir = this.taskDir(spec.taskId);
    const p: HostPaths = {
      cgroupParent: this.podCgroup(spec.taskId),
      logDirectory: join(dir, 'logs'),
      volumeDir: (name) => join(this.opts.stateRoot, 'volumes', name),
      tmpfsDir: (i) => join(dir, 'tmpfs', String(i)),
    };
    if (spec.network?.mode !== 'host') p.hostsFile = join(dir, 'hosts');
    return p;
  }

  private async call(op: string, svc: 'runtime' | 'image', method: string, req: Obj, subject?: string, timeoutMs?: number): Promise<Obj> {
    try {
      return await this.cri[svc](method, req, timeoutMs === undefined ? undefined : { timeoutMs });
    } catch (e) {
      throw fromGrpcError(op, e, subject);
    }
  }

  // ---------- runtime ----------
  async version(): Promise<RuntimeVersion> {
    const v = await this.call('version', 'runtime', 'Version', { version: 'v1' });
    return { runtimeName: v.runtimeName, runtimeVersion: v.runtimeVersion, apiVersion: v.runtimeApiVersion };
  }

  async status(): Promise<RuntimeStatus> {
    let r: Obj;
    try {
      r = await this.call('status', 'runtime', 'Status', { verbose: false }, undefined, 5_000);
    } catch (e) {
      return { ready: false, reason: (e as Error).message, conditions: {} };
    }
    const conditions: Record<string, boolean> = {};
    const bad: string[] = [];
    for (const c of (r.status?.conditions ?? []) as Obj[]) {
      conditions[c.type] = !!c.status;
      if (!c.status) bad.push(`${c.type}: ${c.reason || 'false'}${c.message ? ` (${c.message})` : ''}`);
    }
    return { ready: bad.length === 0, reason: bad.join('; '), conditions };
  }

  // ---------- images ----------
  async pullImage(ref: string, auth?: RegistryAuth): Promise<string> {
    const r = await this.call('pullImage', 'image', 'PullImage', { image: { image: ref }, auth: criAuth(auth) }, `image "${ref}"`, 600_000);
    this.images.set(ref, this.opts.now());
    return r.imageRef;
  }

  async imageExists(ref: string): Promise<boolean> {
    const seen = this.images.get(ref);
    if (seen !== undefined && this.opts.now() - seen < this.opts.imageCacheMs) return true;
    const r = await this.call('imageExists', 'image', 'ImageStatus', { image: { image: ref }, verbose: false }, `image "${ref}"`);
    if (r.image?.id) this.images.set(ref, this.opts.now());
    else this.images.delete(ref);
    return !!r.image?.id;
  }

  // ---------- lifecycle ----------
  async prepare(spec: TaskContainerSpec): Promise<ContainerHandle> {
    validateSpec(spec);
    // Idempotent: a container already created for this task is returned as is. A container
    // lives in its task's sandbox, so without a sandbox there is no container to look for.
    const sandboxes = await this.call('prepare', 'runtime', 'ListPodSandbox', { filter: { labelSelector: { [LABELS.taskId]: spec.taskId } } });
    const stale = (sandboxes.items ?? []) as Obj[];
    if (stale.length) {
      const found = (await this.listBy({ [LABELS.taskId]: spec.taskId }))[0];
      if (found) return found.handle;
    }
    if (!(await this.imageExists(spec.image))) {
      throw new RuntimeError('NotFound', 'prepare', `image "${spec.image}" is not present on this node (pull it first)`);
    }
    // A sandbox left by an interrupted prepare would hold the pod name: remove it.
    for (const s of stale) await this.removeSandbox(s.id);

    const paths = this.paths(spec);
    const dir = this.taskDir(spec.taskId);
    let sandboxId = '';
    try {
      await mkdir(paths.logDirectory, { recursive: true });
      for (const [i, m] of (spec.mounts ?? []).entries()) {
        if (m.type === 'volume') await mkdir(paths.volumeDir(m.name), { recursive: true });
        if (m.type === 'tmpfs') await mountTmpfs(paths.tmpfsDir(i), m.sizeBytes);
      }
      const sbConfig = sandboxConfig(spec, paths);
      const sb = await this.call('prepare', 'runtime', 'RunPodSandbox', { config: sbConfig, runtimeHandler: runtimeHandler(spec) }, `task ${spec.taskId}`);
      sandboxId = sb.podSandboxId;
      if (spec.network?.mode === 'none') await this.isolateSandbox(sandboxId);
      if (paths.hostsFile) {
        const st = await this.call('prepare', 'runtime', 'PodSandboxStatus', { podSandboxId: sandboxId, verbose: false });
        const ip: string | undefined = st.status?.network?.ip || undefined;
        await writeFile(paths.hostsFile, hostsFileContent(spec, ip, sbConfig.hostname as string));
      }
      const cc = containerConfig(spec, paths, spec.image);
      const c = await this.call('prepare', 'runtime', 'CreateContainer', { podSandboxId: sandboxId, config: cc, sandboxConfig: sbConfig }, `task ${spec.taskId}`);
      const handle: ContainerHandle = { taskId: spec.taskId, containerId: c.containerId, sandboxId };
      if (spec.resources?.pids) await presetPidsLimit(`${paths.cgroupParent}/${handle.containerId}`, spec.resources.pids);
      if (spec.ulimits?.length) await writeFile(join(dir, 'ulimits.json'), JSON.stringify(spec.ulimits));
      return handle;
    } catch (e) {
      this.images.delete(spec.image); // removed behind our back? ask again next time
      if (sandboxId) await this.removeSandbox(sandboxId).catch(() => undefined);
      await removeTaskDir(dir).catch(() => undefined);
      await removeCgroupTree(this.podCgroup(spec.taskId)).catch(() => undefined);
      throw e instanceof RuntimeError ? e : fromGrpcError('prepare', e, `task ${spec.taskId}`);
    }
  }

  /**
   * Network mode "none": containerd's CRI always runs CNI for a pod network namespace and
   * requires an eth0 with an address, so the "shoal-none" runtime handler gives the sandbox one
   * on an isolated bridge and we delete eth0 here, before the task's container exists.
   */
  private async isolateSandbox(sandboxId: string): Promise<void> {
    const st = await this.call('prepare', 'runtime', 'PodSandboxStatus', { podSandboxId: sandboxId, verbose: true });
    let netns: string | undefined;
    try {
      const info = JSON.parse(st.info?.info ?? '{}') as { runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } } };
      netns = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
    } catch { /* handled below */ }
    if (!netns) throw new RuntimeError('Internal', 'prepare', `sandbox ${sandboxId}: network namespace path not found`);
    await run('nsenter', [`--net=${netns}`, 'ip', 'link', 'del', 'eth0']).catch((e: Error) => {
      throw new RuntimeError('Internal', 'prepare', `sandbox ${sandboxId}: removing eth0 for network mode none: ${e.message}`, { cause: e });
    });
  }

  async start(handle: ContainerHandle): Promise<void> {
    await this.call('start', 'runtime', 'StartContainer', { containerId: handle.containerId }, `task ${handle.taskId}`);
    const ulimits = await readFile(join(this.taskDir(handle.taskId), 'ulimits.json'), 'utf8').catch(() => '');
    if (ulimits) {
      const pid = await this.pid(handle);
      try {
        if (!pid) throw new Error('container has no pid');
        await applyUlimits(pid, JSON.parse(ulimits));
      } catch (e) {
        // Never leave a task running with limits other than asked: kill it and fail the start.
        await this.cri.runtime('StopContainer', { containerId: handle.containerId, timeout: 0 }).catch(() => undefined);
        const why = ((e as { stderr?: string }).stderr || (e as Error).message).trim();
        throw new RuntimeError('FailedPrecondition', 'start', `task ${handle.taskId}: ulimits could not be applied (${why}); ` +
          'CRI v0.25 has no rlimits, so they are set with prlimit after start, which needs CAP_SYS_RESOURCE to raise limits ' +
          'or to change a process of another user', { cause: e });
      }
    }
  }

  private async containerStatus(op: string, handle: ContainerHandle, verbose: boolean): Promise<Obj> {
    return this.call(op, 'runtime', 'ContainerStatus', { containerId: handle.containerId, verbose }, `task ${handle.taskId}`);
  }

  private async pid(handle: ContainerHandle): Promise<number | undefined> {
    return pidOf(await this.containerStatus('inspect', handle, true));
  }

  async inspect(handle: ContainerHandle): Promise<ContainerInspect> {
    // The pid of a running container is learnt once, from a verbose status (which has the plain
    // status too, so one call either way).
    const known = this.pids.get(handle.containerId);
    const r = await this.containerStatus('inspect', handle, known === undefined);
    const s = r.status ?? {};
    const state = STATE[s.state as string] ?? 'unknown';
    const out: ContainerInspect = {
      state,
      exitCode: state === 'exited' ? s.exitCode : undefined,
      startedAt: nsToMs(s.startedAt),
      finishedAt: nsToMs(s.finishedAt),
      reason: s.reason ?? '',
      message: s.message ?? '',
    };
    if (state === 'running') {
      const pid = known || pidOf(r);
      if (pid) {
        out.pid = pid;
        this.pids.set(handle.containerId, pid);
      }
    } else if (state === 'exited') {
      this.pids.set(handle.containerId, 0); // for good: no verbose status for it any more
    } else {
      this.pids.delete(handle.containerId);
    }
    return out;
  }

  /**
   * Stop: CRI StopContainer takes only a timeout and always sends the image's STOPSIGNAL (or
   * SIGTERM), in whole seconds. To honour the task's stop signal and a millisecond grace period,
   * we send the signal ourselves to the container's main process by its host PID (from
   * ContainerStatus verbose info; containerd shares our PID namespace), wait for the exit by
   * polling ContainerStatus, and then call StopContainer(timeout=0), which SIGKILLs whatever is
   * left and is a no-op for an exited container. Without a PID (should not happen for a running
   * container) we fall back to StopContainer(timeout=ceil(grace)).
   */
  async stop(handle: ContainerHandle, opts: StopOptions = {}): Promise<void> {
    let st: Obj;
    const known = this.pids.get(handle.containerId);
    try {
      st = await this.containerStatus('stop', handle, known === undefined);
    } catch (e) {
      if (e instanceof RuntimeError && e.code === 'NotFound') return;
      throw e;
    }
    const state = STATE[st.status?.state as string] ?? 'unknown';
    if (state === 'exited') return;
    let labelStop: { signal?: string; graceMs?: number } = {};
    try {
      labelStop = JSON.parse(st.status?.labels?.[LABELS.stop] ?? '{}');
    } catch { /* old or foreign container: defaults */ }
    const signal = normalizeSignal(opts.signal ?? labelStop.signal, 'signal');
    const graceMs = Math.max(0, opts.graceMs ?? labelStop.graceMs ?? DEFAULT_STOP_GRACE_MS);
    const pid = known || pidOf(st);
    if (state === 'running' && pid && pid > 0 && graceMs > 0) {
      let signalled = true;
      try {
        process.kill(pid, signal);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw new RuntimeError('Internal', 'stop', `task ${handle.taskId}: kill ${signal} ${pid}: ${(e as Error).message}`, { cause: e });
        signalled = false;
      }
      if (signalled) await this.waitExited(handle, graceMs);
      await this.call('stop', 'runtime', 'StopContainer', { containerId: handle.containerId, timeout: 0 }, `task ${handle.taskId}`);
      return;
    }
    await this.call('stop', 'runtime', 'StopContainer', { containerId: handle.containerId, timeout: Math.ceil(graceMs / 1000) }, `task ${handle.taskId}`, graceMs + 30_000);
  }

  private async waitExited(handle: ContainerHandle, graceMs: number): Promise<boolean> {
    const deadline = this.opts.now() + graceMs;
    let delay = 5;
    for (;;) {
      const s = await this.containerStatus('stop', handle, false).catch(() => undefined);
      if (!s || STATE[s.status?.state as string] === 'exited') return true;
      const left = deadline - this.opts.now();
      if (left <= 0) return false;
      await this.opts.sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, 100);
    }
  }

  private async removeSandbox(sandboxId: string): Promise<void> {
    for (const method of ['StopPodSandbox', 'RemovePodSandbox']) {
      try {
        await this.cri.runtime(method, { podSandboxId: sandboxId });
      } catch (e) {
        if (!isNotFound(e)) throw fromGrpcError('remove', e, `sandbox ${sandboxId}`);
      }
    }
  }

  async remove(handle: ContainerHandle): Promise<void> {
    this.pids.delete(handle.containerId);
    try {
      await this.cri.runtime('RemoveContainer', { containerId: handle.containerId });
    } catch (e) {
      if (!isNotFound(e)) {
        // "container is still running, to stop first": a caller that did not stop, or a stop
        // whose exit containerd had not yet recorded. Kill and retry once.
        if (!/still running/i.test(String((e as { details?: unknown }).details ?? (e as Error).message))) throw fromGrpcError('remove', e, `task ${handle.taskId}`);
        await this.call('remove', 'runtime', 'StopContainer', { containerId: handle.containerId, timeout: 0 }, `task ${handle.taskId}`);
        await this.call('remove', 'runtime', 'RemoveContainer', { containerId: handle.containerId }, `task ${handle.taskId}`);
      }
    }
    await this.removeSandbox(handle.sandboxId);
    // CRI leaves the pod cgroup directories and the log files behind.
    await removeTaskDir(this.taskDir(handle.taskId));
    const left = await removeCgroupTree(this.podCgroup(handle.taskId));
    if (left.length) throw new RuntimeError('Internal', 'remove', `task ${handle.taskId}: cgroups left: ${left.join(', ')}`);
  }

  async exec(handle: ContainerHandle, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    if (cmd.length === 0) throw new RuntimeError('InvalidArgument', 'exec', 'empty command');
    const r = await this.call('exec', 'runtime', 'ExecSync',
      { containerId: handle.containerId, cmd, timeout: Math.max(1, Math.ceil(timeoutMs / 1000)) },
      `task ${handle.taskId}: ${JSON.stringify(cmd)}`, timeoutMs + 5_000);
    return { exitCode: r.exitCode ?? 0, stdout: Buffer.from(r.stdout ?? []).toString('utf8'), stderr: Buffer.from(r.stderr ?? []).toString('utf8') };
  }

  async stats(handle: ContainerHandle): Promise<ContainerStats> {
    const r = await this.call('stats', 'runtime', 'ContainerStats', { containerId: handle.containerId }, `task ${handle.taskId}`);
    const s = r.stats ?? {};
    const out: ContainerStats = {
      timestamp: nsToMs(s.cpu?.timestamp) ?? nsToMs(s.memory?.timestamp) ?? this.opts.now(),
      cpuUsageNanos: s.cpu?.usageCoreNanoSeconds?.value ?? 0,
      memoryWorkingSetBytes: s.memory?.workingSetBytes?.value ?? 0,
    };
    if (s.memory?.usageBytes) out.memoryUsageBytes = s.memory.usageBytes.value;
    return out;
  }

  async logPath(handle: ContainerHandle): Promise<string> {
    return join(this.taskDir(handle.taskId), 'logs', LOG_FILE);
  }

  async *logs(handle: ContainerHandle, opts: LogReadOptions = {}): AsyncIterable<LogEntry> {
    const path = await this.logPath(handle);
    yield* readCriLogFile(path, opts, {
      alive: async () => {
        const s = await this.inspect(handle).catch(() => undefined);
        return !!s && (s.state === 'running' || s.state === 'created');
      },
    });
  }

  async list(): Promise<OwnedContainer[]> {
    const sel: Record<string, string> = { [LABELS.managed]: 'true' };
    if (this.opts.nodeId) sel[LABELS.nodeId] = this.opts.nodeId;
    return this.listBy(sel);
  }

  private async listBy(selector: Record<string, string>): Promise<OwnedContainer[]> {
    const r = await this.call('list', 'runtime', 'ListContainers', { filter: { labelSelector: selector } });
    return ((r.containers ?? []) as Obj[]).map((c) => {
      const labels = (c.labels ?? {}) as Record<string, string>;
      return {
        handle: { taskId: labels[LABELS.taskId] ?? '', containerId: c.id, sandboxId: c.podSandboxId },
        serviceId: labels[LABELS.serviceId] ?? '',
        slot: Number(labels[LABELS.slot] ?? 0),
        nodeId: labels[LABELS.nodeId] ?? '',
        state: STATE[c.state as string] ?? 'unknown',
        createdAt: nsToMs(c.createdAt) ?? 0,
        labels,
      };
    });
  }

  /**
   * Cleans up after interrupted work (e.g. shoald killed in the middle of prepare): sandboxes of
   * this node whose task has no container, and task directories and pod cgroups with neither a
   * container nor a sandbox. Tasks in `keep` (assigned: maybe being prepared right now) and task
   * directories younger than `minAgeMs` (a prepare racing with us creates its directory before
   * its sandbox) are left alone.
   */
  async prune(keep: ReadonlySet<string>, minAgeMs = 60_000): Promise<string[]> {
    const withContainer = new Set((await this.listBy({ [LABELS.managed]: 'true' })).map((c) => c.handle.taskId));
    const sbs = await this.call('prune', 'runtime', 'ListPodSandbox', { filter: { labelSelector: { [LABELS.managed]: 'true' } } });
    const withSandbox = new Set<string>();
    const cleaned = new Set<string>();
    for (const sb of (sbs.items ?? []) as Obj[]) {
      const labels = (sb.labels ?? {}) as Record<string, string>;
      const taskId = labels[LABELS.taskId] ?? '';
      const mine = !this.opts.nodeId || labels[LABELS.nodeId] === this.opts.nodeId;
      if (!mine || !taskId || keep.has(taskId) || withContainer.has(taskId)) {
        withSandbox.add(taskId);
        continue;
      }
      await this.removeSandbox(sb.id);
      cleaned.add(taskId);
    }
    const busy = (id: string): boolean => keep.has(id) || withContainer.has(id) || withSandbox.has(id);
    const tasksDir = join(this.opts.stateRoot, 'tasks');
    for (const id of await readdir(tasksDir).catch(() => [] as string[])) {
      if (busy(id)) continue;
      const st = await stat(join(tasksDir, id)).catch(() => undefined);
      if (!st || (!cleaned.has(id) && this.opts.now() - st.mtimeMs < minAgeMs)) continue;
      await removeTaskDir(join(tasksDir, id));
      cleaned.add(id);
    }
    // Pod cgroups: only below a cgroup root of our own (never the hierarchy root's children).
    const ownRoot = this.opts.cgroupRoot.replace(/\/+$/, '') !== '';
    for (const id of ownRoot ? await cgroupChildren(this.opts.cgroupRoot) : []) {
      if (busy(id)) continue;
      const left = await removeCgroupTree(this.podCgroup(id));
      if (left.length === 0) cleaned.add(id);
    }
    return [...cleaned].sort();
  }

  async close(): Promise<void> {
    this.cri.close();
  }
}
