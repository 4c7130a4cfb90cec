// HollowRuntime: pretends to run containers, in memory, for scale tests with thousands of
// simulated nodes in one process. A container costs one small object and no timer: its exit
// time is computed when it starts and its state is derived from the clock when asked. Timers
// exist only while a call is "taking time" (latencies, stop grace) and go through an injectable
// scheduler, so tests drive time with ManualScheduler and stay deterministic.
import { RuntimeError } from './errors.js';
import {
  DEFAULT_STOP_GRACE_MS, LABELS,
  type ContainerHandle, type ContainerInspect, type ContainerState, type ContainerStats, type ExecResult,
  type LogEntry, type LogReadOptions, type OwnedContainer, type RegistryAuth, type Runtime, type RuntimeStatus,
  type RuntimeVersion, type StopOptions, type TaskContainerSpec,
} from './runtime.js';

/** Time source and timers. `sleep(0)` must resolve without a timer. */
export interface HollowScheduler {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realScheduler: HollowScheduler = {
  now: () => Date.now(),
  sleep: (ms) => (ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms))),
};

/** A virtual clock: sleeps resolve when advance() passes their time, in time order. */
export class ManualScheduler implements HollowScheduler {
  private t: number;
  private seq = 0;
  private timers: { at: number; seq: number; resolve: () => void }[] = [];
  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.timers.push({ at: this.t + ms, seq: this.seq++, resolve });
    });
  }
  pending(): number {
    return this.timers.length;
  }
  /** Moves the clock forward, resolving due sleeps in order and letting their continuations run. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flushMicrotasks();
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.resolve();
    }
    this.t = end;
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

export type HollowStage = 'pull' | 'prepare' | 'start';
export interface HollowFailure {
  /** Where it fails: an error from pull/prepare/start, or 'exit': starts then exits with exitCode. */
  stage: HollowStage | 'exit';
  message?: string;
  exitCode?: number;
  /** For 'exit': after how long (default 0). */
  afterMs?: number;
}

type PerSpec<T> = T | ((spec: TaskContainerSpec) => T);
const resolve = <T>(v: PerSpec<T>, spec: TaskContainerSpec): T => (typeof v === 'function' ? (v as (s: TaskContainerSpec) => T)(spec) : v);

export interface HollowRuntimeOptions {
  scheduler?: HollowScheduler;
  /** Uniform [0,1) source for failureRate; default a PRNG seeded with `seed`. */
  random?: () => number;
  seed?: number;
  prepareLatencyMs?: PerSpec<number>;
  startLatencyMs?: PerSpec<number>;
  pullLatencyMs?: number;
  /** Probability that start() fails (stage 'start'). */
  failureRate?: number;
  /** Injected failures by image reference. */
  failures?: Record<string, HollowFailure>;
  /** When the container exits by itself after starting (undefined: runs until stopped). */
  exitAfterMs?: PerSpec<number | undefined>;
  exitCode?: PerSpec<number>;
  /** Images that ignore their stop signal (stop waits the grace period, then exit 137). */
  ignoreStopImages?: string[];
  /** Images present from the start; pullImage adds more. Default: any image is present. */
  images?: string[];
  /** Log lines a container writes on start (stdout); default: a deterministic log (see logs()). */
  logLines?: PerSpec<string[]>;
  exec?: (spec: TaskContainerSpec, cmd: string[]) => ExecResult;
}

interface HollowContainer {
  spec: TaskContainerSpec;
  handle: ContainerHandle;
  createdAt: number;
  startedAt?: number;
  /** Absolute time of exit (natural or by stop). */
  exitAt?: number;
  exitCode?: number;
  reason?: string;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SIGNUM: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15 };

export class HollowRuntime implements Runtime {
  private readonly sched: HollowScheduler;
  private readonly random: () => number;
  private readonly containers = new Map<string, HollowContainer>();
  private readonly byTask = new Map<string, HollowContainer>();
  private readonly images: Set<string> | undefined;
  private readonly failures: Map<string, HollowFailure>;
  private ready = true;
  private notReadyReason = '';
  private nextId = 0;

  constructor(private readonly opts: HollowRuntimeOptions = {}) {
    this.sched = opts.scheduler ?? realScheduler;
    this.random = opts.random ?? mulberry32(opts.seed ?? 1);
    this.images = opts.images ? new Set(opts.images.map(normalizeRef)) : undefined;
    this.failures = new Map(Object.entries(opts.failures ?? {}).map(([k, v]) => [normalizeRef(k), v]));
  }

  // ---------- test controls ----------
  injectFailure(image: string, failure: HollowFailure | undefined): void {
    if (failure) this.failures.set(normalizeRef(image), failure);
    else this.failures.delete(normalizeRef(image));
  }
  setReady(ready: boolean, reason = ''): void {
    this.ready = ready;
    this.notReadyReason = ready ? '' : reason || 'NotReady';
  }
  /** Makes a running container exit now with the given code (a crash). */
  crash(handle: ContainerHandle, exitCode = 1, reason = 'Error'): void {
    const c = this.get('crash', handle);
    if (this.stateOf(c) !== 'running') return;
    c.exitAt = this.sched.now();
    c.exitCode = exitCode;
    c.reason = reason;
  }
  get size(): number {
    return this.containers.size;
  }

  // ---------- Runtime ----------
  async version(): Promise<RuntimeVersion> {
    return { runtimeName: 'hollow', runtimeVersion: '0.1.0', apiVersion: 'v1' };
  }
  async status(): Promise<RuntimeStatus> {
    return { ready: this.ready, reason: this.notReadyReason, conditions: { RuntimeReady: this.ready, NetworkReady: this.ready } };
  }

  async pullImage(ref: string, _auth?: RegistryAuth): Promise<string> {
    const f = this.failures.get(normalizeRef(ref));
    await this.sched.sleep(this.opts.pullLatencyMs ?? 0);
    if (f?.stage === 'pull') throw new RuntimeError('NotFound', 'pullImage', `image "${ref}": ${f.message ?? 'pull access denied'}`);
    this.images?.add(normalizeRef(ref));
    return `sha256:hollow-${normalizeRef(ref)}`;
  }

  async imageExists(ref: string): Promise<boolean> {
    return !this.images || this.images.has(normalizeRef(ref));
  }

  async prepare(spec: TaskContainerSpec): Promise<ContainerHandle> {
    if (!spec.taskId) throw new RuntimeError('InvalidArgument', 'prepare', 'taskId: required');
    const existing = this.byTask.get(spec.taskId);
    if (existing) return existing.handle;
    if (!(await this.imageExists(spec.image))) {
      throw new RuntimeError('NotFound', 'prepare', `image "${spec.image}" is not present on this node (pull it first)`);
    }
    await this.sched.sleep(resolve(this.opts.prepareLatencyMs ?? 0, spec));
    const f = this.failures.get(normalizeRef(spec.image));
    if (f?.stage === 'prepare') throw new RuntimeError('Internal', 'prepare', `task ${spec.taskId}: ${f.message ?? 'injected failure'}`);
    const id = (this.nextId++).toString(16).padStart(12, '0');
    const handle: ContainerHandle = { taskId: spec.taskId, containerId: `c${id}`, sandboxId: `s${id}` };
    const c: HollowContainer = { spec, handle, createdAt: this.sched.now() };
    this.containers.set(handle.containerId, c);
    this.byTask.set(spec.taskId, c);
    return handle;
  }

  async start(handle: ContainerHandle): Promise<void> {
    const c = this.get('start', handle);
    if (c.startedAt !== undefined) throw new RuntimeError('FailedPrecondition', 'start', `task ${handle.taskId}: container already started`);
    await this.sched.sleep(resolve(this.opts.startLatencyMs ?? 0, c.spec));
    const f = this.failures.get(normalizeRef(c.spec.image));
    if (f?.stage === 'start' || (this.opts.failureRate && this.random() < this.opts.failureRate)) {
      c.exitAt = this.sched.now();
      c.exitCode = 128;
      c.reason = 'StartError';
      throw new RuntimeError('Internal', 'start', `task ${handle.taskId}: ${f?.message ?? 'injected start failure'}`);
    }
    const now = this.sched.now();
    c.startedAt = now;
    if (f?.stage === 'exit') {
      c.exitAt = now + (f.afterMs ?? 0);
      c.exitCode = f.exitCode ?? 1;
      c.reason = c.exitCode === 0 ? 'Completed' : 'Error';
      return;
    }
    const after = this.opts.exitAfterMs === undefined ? undefined : resolve(this.opts.exitAfterMs, c.spec);
    if (after !== undefined) {
      c.exitAt = now + after;
      c.exitCode = resolve(this.opts.exitCode ?? 0, c.spec);
      c.reason = c.exitCode === 0 ? 'Completed' : 'Error';
    }
  }

  private stateOf(c: HollowContainer): ContainerState {
    if (c.exitAt !== undefined && c.exitAt <= this.sched.now()) return 'exited';
    return c.startedAt === undefined ? 'created' : 'running';
  }

  async inspect(handle: ContainerHandle): Promise<ContainerInspect> {
    const c = this.get('inspect', handle);
    const state = this.stateOf(c);
    return {
      state,
      exitCode: state === 'exited' ? c.exitCode : undefined,
      startedAt: c.startedAt,
      finishedAt: state === 'exited' ? c.exitAt : undefined,
      reason: state === 'exited' ? (c.reason ?? '') : '',
      message: '',
    };
  }

  async stop(handle: ContainerHandle, opts: StopOptions = {}): Promise<void> {
    const c = this.containers.get(handle.containerId);
    if (!c) return;
    const state = this.stateOf(c);
    if (state === 'exited') return;
    if (state === 'created') {
      c.exitAt = this.sched.now();
      c.exitCode = 0;
      c.reason = 'Stopped';
      return;
    }
    const graceMs = opts.graceMs ?? c.spec.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    const sig = (opts.signal ?? c.spec.stopSignal ?? 'SIGTERM').toUpperCase();
    const name = sig.startsWith('SIG') ? sig : /^\d+$/.test(sig) ? sig : `SIG${sig}`;
    const ignores = this.opts.ignoreStopImages?.some((i) => normalizeRef(i) === normalizeRef(c.spec.image)) ?? false;
    if (ignores) {
      const naturalExit = c.exitAt;
      await this.sched.sleep(naturalExit !== undefined ? Math.min(graceMs, naturalExit - this.sched.now()) : graceMs);
      if (this.stateOf(c) === 'exited') return;
      c.exitAt = this.sched.now();
      c.exitCode = 137;
      c.reason = 'Error';
      return;
    }
    c.exitAt = this.sched.now();
    c.exitCode = 128 + (/^\d+$/.test(name) ? Number(name) : (SIGNUM[name] ?? 15));
    c.reason = 'Error';
  }

  async remove(handle: ContainerHandle): Promise<void> {
    const c = this.containers.get(handle.containerId);
    if (c && this.byTask.get(c.spec.taskId) === c) this.byTask.delete(c.spec.taskId);
    this.containers.delete(handle.containerId);
  }

  async exec(handle: ContainerHandle, cmd: string[], _timeoutMs: number): Promise<ExecResult> {
    const c = this.get('exec', handle);
    if (this.stateOf(c) !== 'running') throw new RuntimeError('FailedPrecondition', 'exec', `task ${handle.taskId}: container is not running`);
    if (this.opts.exec) return this.opts.exec(c.spec, cmd);
    // a health check's CMD-SHELL: "sh -c 'exit N'" exits N ("true"/"false" as usual)
    if ((cmd[0] === '/bin/sh' || cmd[0] === 'sh') && cmd[1] === '-c') {
      const script = (cmd[2] ?? '').trim();
      const exit = /^exit\s+(\d+)$/.exec(script);
      const code = exit ? Number(exit[1]) : script === 'false' ? 1 : 0;
      return { exitCode: code, stdout: '', stderr: code ? `hollow: ${script}: exit ${code}\n` : '' };
    }
    if (cmd[0] === 'echo') return { exitCode: 0, stdout: `${cmd.slice(1).join(' ')}\n`, stderr: '' };
    if (cmd[0] === 'true') return { exitCode: 0, stdout: '', stderr: '' };
    if (cmd[0] === 'false') return { exitCode: 1, stdout: '', stderr: '' };
    return { exitCode: 0, stdout: '', stderr: '' };
  }

  async stats(handle: ContainerHandle): Promise<ContainerStats> {
    const c = this.get('stats', handle);
    const ran = c.startedAt === undefined ? 0 : Math.max(0, Math.min(this.sched.now(), c.exitAt ?? Infinity) - c.startedAt);
    return { timestamp: this.sched.now(), cpuUsageNanos: ran * 1000, memoryWorkingSetBytes: this.stateOf(c) === 'running' ? 1 << 20 : 0 };
  }

  async logPath(_handle: ContainerHandle): Promise<string> {
    return '';
  }

  /**
   * The container's log. With `logLines`, those lines (stdout, at the start). Without, a
   * deterministic log derived from the spec: "<name>.<slot> started (task <id>)" on stdout and
   * "<name>.<slot> ready" on stderr at the start, then, when the spec's env sets
   * SHOAL_HOLLOW_LOG_EVERY_MS=N, "<name>.<slot> tick <k>" on stdout at start + k·N while it runs.
   */
  async *logs(handle: ContainerHandle, opts: LogReadOptions = {}): AsyncIterable<LogEntry> {
    const c = this.get('logs', handle);
    if (c.startedAt === undefined) return;
    const t0 = c.startedAt;
    const at = (time: number, stream: LogEntry['stream'], text: string): LogEntry => ({ time, timestamp: new Date(time).toISOString(), stream, text });
    const label = `${c.spec.serviceName || c.spec.serviceId || 'task'}.${c.spec.slot || c.spec.nodeId}`;
    let entries: LogEntry[];
    let every: number | undefined;
    if (this.opts.logLines !== undefined) {
      entries = resolve(this.opts.logLines, c.spec).map((text) => at(t0, 'stdout', text));
    } else {
      entries = [at(t0, 'stdout', `${label} started (task ${c.spec.taskId})`), at(t0, 'stderr', `${label} ready`)];
      every = hollowLogEveryMs(c.spec);
    }
    const streams = opts.streams?.length ? new Set(opts.streams) : undefined;
    const accept = (e: LogEntry): boolean => (opts.since === undefined || e.time >= opts.since) && (!streams || streams.has(e.stream));
    const upTo = (): number => Math.min(this.sched.now(), c.exitAt ?? Infinity);
    let k = 0;
    const ticks = (until: number): LogEntry[] => {
      if (!every) return [];
      const out: LogEntry[] = [];
      while (t0 + (k + 1) * every <= until) {
        k++;
        out.push(at(t0 + k * every, 'stdout', `${label} tick ${k}`));
      }
      return out;
    };
    if (every && opts.tail !== undefined) {
      // only the last `tail` ticks can be shown: skip the others without building them
      k = Math.max(0, Math.floor((upTo() - t0) / every) - Math.max(0, opts.tail));
    }
    entries = entries.concat(ticks(upTo())).filter(accept);
    if (opts.tail !== undefined) entries = opts.tail <= 0 ? [] : entries.slice(-opts.tail);
    yield* entries;
    if (!opts.follow) return;
    while (!opts.signal?.aborted && this.containers.has(handle.containerId) && this.stateOf(c) === 'running') {
      await this.sched.sleep(every ? Math.min(every, 1000) : 1000);
      if (opts.signal?.aborted) return;
      yield* ticks(upTo()).filter(accept);
    }
    if (!opts.signal?.aborted) yield* ticks(upTo()).filter(accept);
  }

  async list(): Promise<OwnedContainer[]> {
    return [...this.containers.values()].map((c) => ({
      handle: c.handle,
      serviceId: c.spec.serviceId,
      slot: c.spec.slot,
      nodeId: c.spec.nodeId,
      state: this.stateOf(c),
      createdAt: c.createdAt,
      labels: {
        ...(c.spec.labels ?? {}),
        [LABELS.managed]: 'true',
        [LABELS.taskId]: c.spec.taskId,
        [LABELS.serviceId]: c.spec.serviceId,
        [LABELS.serviceName]: c.spec.serviceName,
        [LABELS.slot]: String(c.spec.slot),
        [LABELS.nodeId]: c.spec.nodeId,
      },
    }));
  }

  async close(): Promise<void> {
    /* nothing to release */
  }

  private get(op: string, handle: ContainerHandle): HollowContainer {
    const c = this.containers.get(handle.containerId);
    if (!c) throw new RuntimeError('NotFound', op, `task ${handle.taskId}: container ${handle.containerId} not found`);
    return c;
  }
}

/** SHOAL_HOLLOW_LOG_EVERY_MS from a spec's env: the period of a hollow container's tick lines. */
export function hollowLogEveryMs(spec: TaskContainerSpec): number | undefined {
  const kv = spec.env?.find((e) => e.startsWith('SHOAL_HOLLOW_LOG_EVERY_MS='));
  const ms = kv ? Number(kv.slice(kv.indexOf('=') + 1)) : NaN;
  return Number.isFinite(ms) && ms > 0 ? Math.max(10, ms) : undefined;
}

/** "busybox" -> "docker.io/library/busybox:latest", as CRI would resolve it. */
export function normalizeRef(ref: string): string {
  let r = ref;
  const slash = r.indexOf('/');
  const first = slash < 0 ? '' : r.slice(0, slash);
  if (slash < 0) r = `docker.io/library/${r}`;
  else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') r = `docker.io/${r}`;
  const lastSlash = r.lastIndexOf('/');
  if (!r.includes('@') && !r.slice(lastSlash).includes(':')) r = `${r}:latest`;
  return r;
}
