// A fake fleet of agents for manager tests: it follows the tasks in a ManagerState and moves them
// the way agents would (ASSIGNED -> READY/RUNNING, stop when desired state is past RUNNING),
// writing task status through the store. Nodes listed in `dead` do nothing.
import { isoTime, NodeAvailability, NodeRole, NodeState, TaskState, UpdateFailureAction, UpdateOrder, msDuration, type Node, type ServiceSpec, type Task, type UpdateConfig } from '@shoal/api';
import type { ManagerState } from '../../src/state/state.js';

export class FakeAgents {
  readonly dead = new Set<string>();
  private unsub: (() => void) | undefined;
  private busy = false;
  private again = false;
  writes = 0;

  constructor(
    private readonly state: () => ManagerState | undefined,
    private readonly now: () => number,
  ) {}

  start(): void {
    this.kick();
  }

  /** follow commits of `s` (call again after the state to write through changes) */
  follow(s: ManagerState): void {
    this.unsub?.();
    this.unsub = s.subscribe(() => this.kick());
    this.kick();
  }

  stop(): void {
    this.unsub?.();
    this.unsub = undefined;
  }

  kick(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    void this.step()
      .catch(() => undefined)
      .finally(() => {
        this.busy = false;
        if (this.again) {
          this.again = false;
          setImmediate(() => this.kick());
        }
      });
  }

  private async step(): Promise<void> {
    const s = this.state();
    if (!s) return;
    await s.update((tx) => {
      const ts = isoTime(this.now());
      for (const t of tx.all('tasks')) {
        if (!t.nodeId || this.dead.has(t.nodeId)) continue;
        const st = t.status?.state ?? TaskState.NEW;
        let next: TaskState | undefined;
        if (t.desiredState > TaskState.RUNNING) {
          if (st >= TaskState.ASSIGNED && st <= TaskState.RUNNING) next = TaskState.SHUTDOWN;
        } else if (st >= TaskState.ASSIGNED && st < TaskState.READY) next = TaskState.READY;
        else if (st === TaskState.READY && t.desiredState === TaskState.RUNNING) next = TaskState.RUNNING;
        if (next === undefined) continue;
        tx.update('tasks', { ...t, status: { ...t.status!, state: next, message: TaskState[next].toLowerCase(), timestamp: ts } } as Task);
        this.writes++;
      }
    });
  }
}

export function workerNode(id: string, hostname = `host-${id}`): Node {
  return {
    id,
    spec: { annotations: { name: id, labels: {} }, desiredRole: NodeRole.WORKER, availability: NodeAvailability.ACTIVE },
    description: { hostname, platform: { os: 'linux', architecture: 'amd64' }, resources: { nanoCpus: 4e9, memoryBytes: 8 * 1024 ** 3, pids: 0 }, engineVersion: '1.0', engineLabels: {} },
    status: { state: NodeState.NODE_READY, message: '', addr: '10.0.0.1' },
    managerStatus: undefined,
    role: NodeRole.WORKER,
    dataPathAddr: '',
  } as Node;
}

export function serviceSpec(name: string, replicas: number, image = 'nginx:1', update?: Partial<UpdateConfig>): ServiceSpec {
  return {
    annotations: { name, labels: {} },
    task: {
      container: { image, labels: {}, command: [], args: [], hostname: '', env: [], dir: '', user: '', groups: [], mounts: [], stopSignal: '', readOnly: false, sysctls: {}, capabilityAdd: [], capabilityDrop: [], ulimits: [], tty: false, openStdin: false, hosts: [], secrets: [], configs: [], registryAuth: '' },
      networks: [],
      forceUpdate: 0,
    },
    mode: { $case: 'replicated', replicated: { replicas } },
    update: update
      ? { parallelism: 1, delay: msDuration(0), failureAction: UpdateFailureAction.PAUSE_ON_FAILURE, monitor: msDuration(1000), maxFailureRatio: 0, order: UpdateOrder.STOP_FIRST, ...update }
      : undefined,
  } as ServiceSpec;
}

export const imageOf = (t: Task): string => t.spec?.container?.image ?? '';
export const isRunning = (t: Task): boolean => t.status?.state === TaskState.RUNNING && t.desiredState === TaskState.RUNNING;

/** Polls `cond` until it holds; `step` runs before each poll (e.g. advance a virtual clock). */
export async function waitFor(what: string, cond: () => boolean, opts: { timeoutMs?: number; step?: () => void; last?: () => unknown } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    if (cond()) return;
    if (Date.now() > deadline) {
      const last = opts.last ? ` (last seen: ${JSON.stringify(opts.last())})` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 20_000} ms waiting for ${what}${last}`);
    }
    opts.step?.();
    await new Promise((r) => setTimeout(r, 5));
  }
}
