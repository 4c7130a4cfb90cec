// A fake Runtime for deterministic controller tests: every call resolves at once (or with an
// injected error) and is recorded.
import { ShoalError } from '@shoal/api';
import type {
  ContainerHandle,
  ContainerInspect,
  ContainerState,
  ContainerStats,
  ExecResult,
  LogEntry,
  LogReadOptions,
  OwnedContainer,
  RegistryAuth,
  Runtime,
  RuntimeStatus,
  RuntimeVersion,
  StopOptions,
  TaskContainerSpec,
} from '@shoal/runtime';

type Op = 'pull' | 'imageExists' | 'prepare' | 'start' | 'inspect' | 'stop' | 'remove' | 'exec';

interface FakeContainer {
  handle: ContainerHandle;
  spec: TaskContainerSpec;
  state: ContainerState;
  exitCode: number | undefined;
  startedAt: number | undefined;
}

export class FakeRuntime implements Runtime {
  readonly calls: string[] = [];
  readonly images = new Set<string>();
  readonly containers = new Map<string, FakeContainer>();
  readonly stops: { taskId: string; opts: StopOptions | undefined }[] = [];
  readonly execs: string[][] = [];
  /** One-shot errors per operation (shifted off on use). */
  readonly errors: Partial<Record<Op, Error[]>> = {};
  /** Results of health-check execs, in order; when empty, exit 0. */
  execResults: (ExecResult | Error)[] = [];
  logLines: LogEntry[] = [];
  private next = 1;

  fail(op: Op, err: Error): void {
    (this.errors[op] ??= []).push(err);
  }

  count(prefix: string): number {
    return this.calls.filter((c) => c.startsWith(prefix)).length;
  }

  byTask(taskId: string): FakeContainer | undefined {
    return [...this.containers.values()].find((c) => c.handle.taskId === taskId);
  }

  /** The task's process exits with `code`. */
  exit(taskId: string, code: number): void {
    const c = this.byTask(taskId);
    if (!c) throw new Error(`no container for ${taskId}`);
    c.state = 'exited';
    c.exitCode = code;
  }

  private check(op: Op): void {
    const e = this.errors[op]?.shift();
    if (e) throw e;
  }

  private get(op: string, h: ContainerHandle): FakeContainer {
    const c = this.containers.get(h.containerId);
    if (!c) throw new ShoalError('NotFound', `${op}: container ${h.containerId} not found`);
    return c;
  }

  async version(): Promise<RuntimeVersion> {
    return { runtimeName: 'fake', runtimeVersion: '0', apiVersion: 'v1' };
  }
  async status(): Promise<RuntimeStatus> {
    return { ready: true, reason: '', conditions: {} };
  }
  /** The keep set of each prune call. */
  readonly prunes: string[][] = [];
  async prune(keep: ReadonlySet<string>): Promise<string[]> {
    this.prunes.push([...keep].sort());
    return [];
  }
  /** The credentials of each pull, in order. */
  readonly pullAuths: (RegistryAuth | undefined)[] = [];
  async pullImage(ref: string, auth?: RegistryAuth): Promise<string> {
    this.calls.push(`pull:${ref}`);
    this.pullAuths.push(auth);
    this.check('pull');
    this.images.add(ref);
    return `sha256:${ref}`;
  }
  async imageExists(ref: string): Promise<boolean> {
    this.calls.push(`imageExists:${ref}`);
    this.check('imageExists');
    return this.images.has(ref);
  }
  async prepare(spec: TaskContainerSpec): Promise<ContainerHandle> {
    this.calls.push(`prepare:${spec.taskId}`);
    this.check('prepare');
    const n = this.next++;
    const handle = { taskId: spec.taskId, containerId: `c${n}`, sandboxId: `s${n}` };
    this.containers.set(handle.containerId, { handle, spec, state: 'created', exitCode: undefined, startedAt: undefined });
    return handle;
  }
  async start(h: ContainerHandle): Promise<void> {
    this.calls.push(`start:${h.taskId}`);
    this.check('start');
    const c = this.get('start', h);
    c.state = 'running';
    c.startedAt = 1;
  }
  async inspect(h: ContainerHandle): Promise<ContainerInspect> {
    this.check('inspect');
    const c = this.get('inspect', h);
    return { state: c.state, exitCode: c.exitCode, startedAt: c.startedAt, finishedAt: undefined, reason: '', message: '', pid: c.state === 'running' ? 4242 : 0 };
  }
  async stop(h: ContainerHandle, opts?: StopOptions): Promise<void> {
    this.calls.push(`stop:${h.taskId}`);
    this.stops.push({ taskId: h.taskId, opts });
    this.check('stop');
    const c = this.get('stop', h);
    if (c.state === 'running') {
      c.state = 'exited';
      c.exitCode = 143;
    }
  }
  async remove(h: ContainerHandle): Promise<void> {
    this.calls.push(`remove:${h.taskId}`);
    this.check('remove');
    this.containers.delete(h.containerId);
  }
  async exec(h: ContainerHandle, cmd: string[]): Promise<ExecResult> {
    this.execs.push(cmd);
    this.check('exec');
    this.get('exec', h);
    const r = this.execResults.shift() ?? { exitCode: 0, stdout: '', stderr: '' };
    if (r instanceof Error) throw r;
    return r;
  }
  async stats(): Promise<ContainerStats> {
    return { timestamp: 0, cpuUsageNanos: 0, memoryWorkingSetBytes: 0 };
  }
  async logPath(): Promise<string> {
    return '';
  }
  async *logs(_h: ContainerHandle, opts: LogReadOptions = {}): AsyncIterable<LogEntry> {
    let entries = this.logLines;
    if (opts.tail !== undefined) entries = opts.tail <= 0 ? [] : entries.slice(-opts.tail);
    yield* entries;
  }
  async list(): Promise<OwnedContainer[]> {
    return [...this.containers.values()].map((c) => ({
      handle: c.handle,
      serviceId: c.spec.serviceId,
      slot: c.spec.slot,
      nodeId: c.spec.nodeId,
      state: c.state,
      createdAt: 0,
      labels: {},
    }));
  }
  async close(): Promise<void> {}
}
