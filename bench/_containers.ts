// Shared by the real-container benchmarks (converge, update): a single-node Shoal cluster (one
// shoald, manager + worker, with its own private containerd) and a private Docker Swarm (a dockerd
// of our own with its own data root, exec root, pid file and socket), both driven with the same
// busybox image and the same command, plus cleanup that also runs on failure and on SIGINT.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { ServiceSpec, TaskState, type Task } from '@shoal/api';
import { containerdUp, observed, REPO_ROOT, startCluster, waitFor, type Cluster, type ControlApi, type PrivateContainerd } from '@shoal/testkit';

const run = promisify(execFile);

export const IMAGE = 'shoal-test/busybox:1';
/** PID 1 of every task: exits at once on SIGTERM (busybox sleep as PID 1 would ignore it). */
export const COMMAND = ['sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];
export const GRACE_S = 2;

// ---------------------------------------------------------------- arguments, timing, cleanup

export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

export function numArg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: "${process.argv[i + 1]}" is not a number`);
  return v;
}

export function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}

export const seconds = (ms: number): number => Math.round(ms) / 1000;
export const now = (): number => performance.now();

/**
 * CPU seconds (user + system, including reaped children such as runc and CNI plugins) used so far
 * by the live processes whose command line contains one of `marks`. Shims that already exited are
 * not counted, so take both samples while the containers of interest are alive.
 */
export function cpuSeconds(marks: string[]): number {
  let total = 0;
  for (const u of Object.values(cpuBreakdown(marks))) total += u.user + u.sys + u.children;
  return Math.round(total * 100) / 100;
}

/**
 * CPU seconds by process name (comm) of the live processes whose command line contains one of
 * `marks` (children: runc under a shim, CNI plugins and mount helpers under containerd). With
 * `cgroup`, also the cpuacct usage of that cgroup (the containers' own processes, including runc
 * init before its exec), as "cgroup" (all in `user`).
 */
export function cpuBreakdown(marks: string[], cgroup?: string): Record<string, CpuUse> {
  const out: Record<string, CpuUse> = {};
  for (const p of readdirSafe('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (!marks.some((m) => cmd.includes(m))) continue;
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const e = (out[comm] ??= { user: 0, sys: 0, children: 0 });
      e.user += Number(f[11]) / 100;
      e.sys += Number(f[12]) / 100;
      e.children += (Number(f[13]) + Number(f[14])) / 100;
    } catch {
      /* exited meanwhile */
    }
  }
  if (cgroup) {
    try {
      const ns = Number(readFileSync(isCgroupV2() ? `/sys/fs/cgroup${cgroup}/cpu.stat` : `/sys/fs/cgroup/cpuacct${cgroup}/cpuacct.usage`, 'utf8').match(/^(?:usage_usec )?(\d+)/m)?.[1] ?? 0);
      out.cgroup = { user: isCgroupV2() ? ns / 1e6 : ns / 1e9, sys: 0, children: 0 };
    } catch {
      /* no such cgroup yet */
    }
  }
  return out;
}

function isCgroupV2(): boolean {
  return existsSync('/sys/fs/cgroup/cgroup.controllers');
}

/** CPU seconds: the process's own user and system time, and what its reaped children used. */
export interface CpuUse {
  user: number;
  sys: number;
  children: number;
}

/** b - a per name, rounded to 10 ms; names whose use did not change are left out. */
export function cpuDiff(a: Record<string, CpuUse>, b: Record<string, CpuUse>): Record<string, CpuUse> {
  const out: Record<string, CpuUse> = {};
  const r = (x: number) => Math.round(x * 100) / 100;
  for (const [k, v] of Object.entries(b)) {
    const d = { user: r(v.user - (a[k]?.user ?? 0)), sys: r(v.sys - (a[k]?.sys ?? 0)), children: r(v.children - (a[k]?.children ?? 0)) };
    if (d.user || d.sys || d.children) out[k] = d;
  }
  return out;
}

type Cleanup = () => Promise<void>;
const cleanups: Cleanup[] = [];
let cleaning: Promise<void> | undefined;

/** Register something to stop (run last-in first-out by `cleanupAll`, also on SIGINT/SIGTERM). */
export function onCleanup(fn: Cleanup): void {
  cleanups.push(fn);
}

export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const fn = cleanups.pop()!;
      try {
        await fn();
      } catch (err) {
        log(`cleanup: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}

/**
 * Run a benchmark body with cleanup on success, error, SIGINT/SIGTERM and a global deadline
 * (the bench exits non-zero when the deadline passes, after stopping everything it started).
 */
export async function benchMain(name: string, deadlineMs: number, body: () => Promise<void>): Promise<void> {
  const bail = (why: string, code: number) => {
    log(`${name}: ${why}; stopping everything this bench started`);
    void cleanupAll().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => bail('SIGINT', 130));
  process.once('SIGTERM', () => bail('SIGTERM', 143));
  const timer = setTimeout(() => bail(`deadline of ${deadlineMs / 1000} s passed`, 124), deadlineMs);
  timer.unref();
  let code = 0;
  try {
    await body();
  } catch (err) {
    log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
    code = 1;
  } finally {
    clearTimeout(timer);
    await cleanupAll();
  }
  process.exit(code);
}

// ---------------------------------------------------------------- Shoal

export interface ShoalNode {
  cluster: Cluster;
  api: ControlApi;
  containerd: PrivateContainerd;
  /** number of CRI containers and pod sandboxes containerd has (k8s.io namespace) */
  containerCount(): Promise<number>;
  /** CPU seconds used so far by shoald, containerd and the live shims (see cpuSeconds) */
  cpu(): number;
  /** the same by process name, plus the task containers' cgroup (see cpuBreakdown) */
  cpuByProcess(): ReturnType<typeof cpuBreakdown>;
}

/** One shoald (manager + worker on the CRI runtime) with a private containerd NAME. */
export async function startShoal(name: string): Promise<ShoalNode> {
  const containerd = await containerdUp(name);
  onCleanup(() => containerd.down());
  const cluster = await startCluster({
    managers: 1,
    workers: 0,
    runtime: 'cri',
    containerdSocket: containerd.socket,
    heartbeatPeriod: '1s',
    nodeFlags: { m1: ['--cgroup-parent', containerd.cgroupParent('m1')] },
  });
  onCleanup(() => cluster.stop());
  const containerCount = async () => {
    const a = await run('ctr', ['-a', containerd.socket, '-n', 'k8s.io', 'containers', 'ls', '-q'], { timeout: 30_000 });
    return a.stdout.split('\n').filter(Boolean).length;
  };
  const marks = [cluster.dir, `/shoal-test/${name}/`];
  const podCgroup = containerd.cgroupParent('m1');
  return { cluster, api: cluster.api, containerd, containerCount, cpu: () => cpuSeconds(marks), cpuByProcess: () => cpuBreakdown(marks, podCgroup) };
}

export function shoalSpec(name: string, replicas: number, env: string[] = []): ServiceSpec {
  return ServiceSpec.fromPartial({
    annotations: { name, labels: {} },
    task: { container: { image: IMAGE, command: COMMAND, env, stopGracePeriod: { seconds: GRACE_S, nanos: 0 } } },
    mode: { $case: 'replicated', replicated: { replicas } },
    // the update settings of the update bench (SwarmKit defaults otherwise: failure action pause, stop-first)
    update: { parallelism: 10, delay: { seconds: 0, nanos: 0 }, monitor: { seconds: 1, nanos: 0 } },
  });
}

export async function shoalTasks(api: ControlApi, serviceId: string): Promise<Task[]> {
  return (await api.listTasks({ serviceIds: [serviceId] }, { timeoutMs: 10_000 })).tasks;
}

/** Tasks desired RUNNING and observed RUNNING, optionally only those whose spec passes `pick`. */
export function runningOf(tasks: Task[], pick: (t: Task) => boolean = () => true): number {
  return tasks.filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING && pick(t)).length;
}

export function stateCounts(tasks: Task[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of tasks) {
    const k = `${TaskState[t.status?.state ?? 0]}/${TaskState[t.desiredState]}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** Remove a Shoal service and wait until containerd holds no container or sandbox any more. */
export async function shoalRemove(node: ShoalNode, serviceId: string, timeoutMs: number): Promise<number> {
  const t0 = now();
  await node.api.removeService({ serviceId });
  await waitFor('every container and pod sandbox of the removed service is gone from containerd', async () => {
    const n = await node.containerCount();
    return observed(n === 0, { containers: n });
  }, timeoutMs, { intervalMs: 250 });
  return now() - t0;
}

// ---------------------------------------------------------------- Docker Swarm

const DOCKER_BASE = '/var/lib/shoal-test/bench-docker';
const DOCKER_RUN = '/run/shoal-test/bench-docker';
const DOCKER_SOCK = `${DOCKER_RUN}/docker.sock`;
const DOCKER_BIN = '/usr/bin/docker';
const DOCKERD_BIN = '/usr/sbin/dockerd';
const DOCKER_IMAGE_TAR = '/var/lib/shoal-test/images/docker/busybox-1.tar';

export interface Swarm {
  /** Docker Engine API over the private socket: JSON in, JSON out; throws on a non-2xx status */
  call<T = unknown>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T>;
  /** containers of any state that belong to swarm service `serviceId` */
  containerCount(serviceId: string): Promise<number>;
  /** CPU seconds used so far by dockerd, its containerd and the live shims (see cpuSeconds) */
  cpu(): number;
  /** the same by process name, plus the containers' cgroup /docker (see cpuBreakdown) */
  cpuByProcess(): ReturnType<typeof cpuBreakdown>;
}

function dpkgInstalled(pkg: string): boolean {
  try {
    const out = readFileSync('/var/lib/dpkg/status', 'utf8');
    const i = out.indexOf(`\nPackage: ${pkg}\n`);
    if (i < 0) return false;
    const end = out.indexOf('\n\n', i + 1);
    return /\nStatus: install ok installed\n/.test(out.slice(i, end < 0 ? undefined : end));
  } catch {
    return false;
  }
}

/** Install Debian's docker.io when it is missing (apt-get; the package's service is not started). */
export async function ensureDocker(): Promise<boolean> {
  if (dpkgInstalled('docker.io') && existsSync(DOCKERD_BIN)) return true;
  log('docker.io is not installed: apt-get install -y docker.io');
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'docker.io'], { env, timeout: 600_000, maxBuffer: 64 << 20 });
  } catch (err) {
    log(`installing docker.io failed (${(err as Error).message.split('\n')[0]}); Swarm numbers will be null`);
    return false;
  }
  return existsSync(DOCKERD_BIN);
}

function engineCall<T>(method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      { socketPath: DOCKER_SOCK, method, path: `/v1.41${path}`, timeout: timeoutMs, headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 300) return reject(new Error(`docker ${method} ${path}: ${res.statusCode} ${text.trim()}`));
          try {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } catch {
            resolve(text as T);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`docker ${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

async function docker(args: string[], timeoutMs = 120_000): Promise<string> {
  const r = await run(DOCKER_BIN, ['-H', `unix://${DOCKER_SOCK}`, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 });
  return r.stdout.trim();
}

function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/**
 * Start a private dockerd (never the system one: own --data-root, --exec-root, --pidfile and
 * socket; no iptables changes, so other bridges on this machine keep forwarding), load the
 * busybox image built by scripts/runtime/build-images.sh and `docker swarm init`.
 */
export async function startSwarm(): Promise<Swarm> {
  if (!existsSync(DOCKER_IMAGE_TAR)) await run('bash', [join(REPO_ROOT, 'scripts/runtime/build-images.sh'), '/var/lib/shoal-test/images'], { timeout: 120_000 });
  await stopDockerd(); // a previous run that was SIGKILLed
  rmSync(DOCKER_BASE, { recursive: true, force: true });
  mkdirSync(DOCKER_BASE, { recursive: true });
  mkdirSync(DOCKER_RUN, { recursive: true });
  // dockerd's exec root (its containerd's state, runc's root, fifos) on a tmpfs, as /run is on
  // an ordinary host and as scripts/runtime/containerd-up.sh gives Shoal's containerd
  if (!(await isTmpfs('/run')) && !(await isTmpfs(DOCKER_RUN))) await run('mount', ['-t', 'tmpfs', '-o', 'mode=0711,size=1g', 'shoal-bench-docker-run', DOCKER_RUN]);
  const hadDocker0 = linkExists('docker0');
  const hadGw = linkExists('docker_gwbridge');
  const out = openSync(join(DOCKER_BASE, 'dockerd.log'), 'a');
  const child: ChildProcess = spawn(
    DOCKERD_BIN,
    [
      '--data-root', join(DOCKER_BASE, 'data'),
      '--exec-root', join(DOCKER_RUN, 'exec'),
      '--pidfile', join(DOCKER_RUN, 'dockerd.pid'),
      '-H', `unix://${DOCKER_SOCK}`,
      '--iptables=false',
      '--ip-forward=false',
      '--bip', '10.219.0.1/24',
      '--oom-score-adjust', '0',
      '--storage-driver', 'overlay2',
    ],
    // The swarm executor would try to pull every task's image from Docker Hub first (no network
    // here); like Shoal, use the image that is already local.
    { stdio: ['ignore', out, out], detached: true, env: { ...process.env, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: '1' } },
  );
  onCleanup(async () => {
    await stopDockerd();
    if (!hadDocker0 && linkExists('docker0')) await run('ip', ['link', 'del', 'docker0']).catch(() => {});
    if (!hadGw && linkExists('docker_gwbridge')) await run('ip', ['link', 'del', 'docker_gwbridge']).catch(() => {});
    rmSync(DOCKER_BASE, { recursive: true, force: true });
    if (await isTmpfs(DOCKER_RUN)) await run('umount', [DOCKER_RUN]).catch(() => run('umount', ['-l', DOCKER_RUN]));
    rmSync(DOCKER_RUN, { recursive: true, force: true });
  });
  child.unref();
  await waitFor('the private dockerd answers /_ping', async () => {
    if (child.exitCode !== null) throw new Error(`dockerd exited ${child.exitCode}; see ${DOCKER_BASE}/dockerd.log:\n${tail(join(DOCKER_BASE, 'dockerd.log'))}`);
    await engineCall('GET', '/_ping', undefined, 2_000);
    return true;
  }, 60_000, { intervalMs: 200 });
  await docker(['load', '-i', DOCKER_IMAGE_TAR]);
  await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
  return {
    call: (method, path, body, timeoutMs = 30_000) => engineCall(method, path, body, timeoutMs),
    containerCount: async (serviceId) => {
      const filters = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.id=${serviceId}`] }));
      const list = await engineCall<unknown[]>('GET', `/containers/json?all=1&filters=${filters}`, undefined, 30_000);
      return list.length;
    },
    cpu: () => cpuSeconds([`${DOCKER_RUN}/`]),
    cpuByProcess: () => cpuBreakdown([`${DOCKER_RUN}/`], '/docker'),
  };
}

/** Whether `dir` is itself the mount point of a tmpfs. */
async function isTmpfs(dir: string): Promise<boolean> {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => {
    const f = l.split(' ');
    return f[1] === dir && f[2] === 'tmpfs';
  });
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stop our dockerd (SIGTERM, then SIGKILL), the containerd it started, its shims and mounts. */
async function stopDockerd(): Promise<void> {
  const pidFile = join(DOCKER_RUN, 'dockerd.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (pid > 0 && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + 60_000;
      while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
  // the containerd dockerd starts, and the shims of its containers, name our exec root
  for (const p of readdirSafe('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (cmd.includes(`${DOCKER_RUN}/`) && Number(p) !== process.pid) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${DOCKER_RUN}/`) || m.startsWith(`${DOCKER_BASE}/`))
    .sort()
    .reverse();
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => {});
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export interface SwarmTask {
  ID: string;
  Slot?: number;
  DesiredState: string;
  Status: { State: string };
  Spec: { ContainerSpec: { Env?: string[] } };
}

export function swarmSpec(name: string, replicas: number, env: string[] = []): Record<string, unknown> {
  return {
    Name: name,
    TaskTemplate: {
      ContainerSpec: { Image: IMAGE, Command: COMMAND, Env: env, StopGracePeriod: GRACE_S * 1e9 },
    },
    Mode: { Replicated: { Replicas: replicas } },
    // what `docker service create/update --update-parallelism 10 --update-delay 0s --update-monitor 1s` set
    UpdateConfig: { Parallelism: 10, Delay: 0, Monitor: 1e9, FailureAction: 'pause', MaxFailureRatio: 0, Order: 'stop-first' },
  };
}

export async function swarmTasks(sw: Swarm, serviceId: string): Promise<SwarmTask[]> {
  const filters = encodeURIComponent(JSON.stringify({ service: [serviceId] }));
  return sw.call<SwarmTask[]>('GET', `/tasks?filters=${filters}`);
}

export function swarmRunning(tasks: SwarmTask[], pick: (t: SwarmTask) => boolean = () => true): number {
  return tasks.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running' && pick(t)).length;
}

export function swarmStates(tasks: SwarmTask[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of tasks) out[`${t.Status.State}/${t.DesiredState}`] = (out[`${t.Status.State}/${t.DesiredState}`] ?? 0) + 1;
  return out;
}

/** `docker service rm` and wait until no container of the service is left. */
export async function swarmRemove(sw: Swarm, serviceId: string, timeoutMs: number): Promise<number> {
  const t0 = now();
  await sw.call('DELETE', `/services/${serviceId}`);
  await waitFor('every container of the removed swarm service is gone', async () => {
    const n = await sw.containerCount(serviceId);
    return observed(n === 0, { containers: n });
  }, timeoutMs, { intervalMs: 250 });
  return now() - t0;
}
