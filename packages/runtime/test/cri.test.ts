// Integration tests of CriRuntime against a real containerd 1.6 (started by the test itself).
import test from 'ava';
import { chmod, mkdtemp, writeFile, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriRuntime, isRuntimeError, type ContainerHandle, type TaskContainerSpec, type LogEntry, type Runtime } from '@shoal/runtime';
import { existingCgroupDirs, readCgroupFile } from '../src/cri/host.js';
import { startContainerd, waitFor, median, type TestContainerd } from './helpers/containerd.js';

const NAME = 'rt-cri-test';
let cd: TestContainerd;
let rt: CriRuntime;
const lat = { prepare: [] as number[], start: [] as number[], stop: [] as number[], remove: [] as number[] };
let seq = 0;

const newRuntime = (): CriRuntime => new CriRuntime({ endpoint: cd.socket, stateRoot: cd.stateRoot, cgroupRoot: cd.cgroupRoot, nodeId: 'node-a' });

function spec(extra: Partial<TaskContainerSpec>): TaskContainerSpec {
  return {
    taskId: `task${process.pid}x${seq++}`, serviceId: 'svc1', serviceName: 'web', slot: seq, nodeId: 'node-a',
    image: 'shoal-test/busybox:1', command: ['sh', '-c', 'echo hi; sleep 1000'], stopGraceMs: 1000, ...extra,
  };
}

async function timed<T>(k: keyof typeof lat, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const v = await f();
  lat[k].push(performance.now() - t0);
  return v;
}

async function run(s: TaskContainerSpec, r: Runtime = rt): Promise<ContainerHandle> {
  const h = await timed('prepare', () => r.prepare(s));
  await timed('start', () => r.start(h));
  return h;
}

async function logText(h: ContainerHandle): Promise<string> {
  const out: LogEntry[] = [];
  for await (const e of rt.logs(h)) out.push(e);
  return out.map((e) => e.text).join('\n');
}

async function cleanup(h: ContainerHandle): Promise<void> {
  await timed('stop', () => rt.stop(h, { graceMs: 0 }));
  await timed('remove', () => rt.remove(h));
}

test.before(async () => {
  cd = await startContainerd(NAME);
  rt = newRuntime();
});

test.after.always(async (t) => {
  const fmt = (xs: number[]): string => (xs.length ? `median ${median(xs).toFixed(0)} ms (n=${xs.length}, max ${Math.max(...xs).toFixed(0)})` : 'n/a');
  const summary = Object.fromEntries(Object.entries(lat).map(([k, v]) => [k, fmt(v)]));
  t.log(`CRI latencies: ${JSON.stringify(summary)}`);
  console.log(JSON.stringify({ bench: 'runtime.cri.latency_ms', prepare: median(lat.prepare), start: median(lat.start), stop: median(lat.stop), remove: median(lat.remove), n: lat.prepare.length }));
  await rt?.close();
  await cd?.down();
});

test.serial('version and status', async (t) => {
  const v = await rt.version();
  t.is(v.runtimeName, 'containerd');
  t.regex(v.runtimeVersion, /^1\.6\./);
  const st = await waitFor('CRI status ready (RuntimeReady and NetworkReady)', async () => { const s = await rt.status(); return s.ready && s; });
  t.true(st.conditions.NetworkReady);
});

test.serial('images: present, missing image errors are readable', async (t) => {
  t.true(await rt.imageExists('shoal-test/busybox:1'));
  t.false(await rt.imageExists('shoal-test/nope:1'));
  const e1 = await t.throwsAsync(rt.prepare(spec({ image: 'shoal-test/nope:1' })));
  t.true(isRuntimeError(e1, 'NotFound'));
  t.is(e1!.message, 'prepare: image "shoal-test/nope:1" is not present on this node (pull it first)');
  const e2 = await t.throwsAsync(rt.pullImage('127.0.0.1:1/shoal-test/nope:1'));
  t.true(isRuntimeError(e2));
  t.regex(e2!.message, /^pullImage: image "127\.0\.0\.1:1\/shoal-test\/nope:1": .*(connection refused|failed)/);
  t.log(e2!.message);
});

test.serial('a task container honours its spec', async (t) => {
  const host = await mkdtemp(join(tmpdir(), 'shoal-bind-'));
  await chmod(host, 0o755); // the task runs as uid 1000
  await writeFile(join(host, 'hello.txt'), 'from host\n');
  const s = spec({
    command: ['sh', '-c'], args: ['echo hi; echo "arg=$0 $FOO"; sleep 1000', 'zero'],
    env: ['FOO=bar baz', 'EMPTY'], dir: '/tmp', user: '1000:1000', groups: ['2000'], hostname: 'web-1', readOnly: true,
    mounts: [
      { type: 'bind', source: host, target: '/data', readOnly: true },
      { type: 'volume', name: 'vol1', target: '/vol' },
      { type: 'tmpfs', target: '/scratch', sizeBytes: 8 << 20 },
    ],
    resources: { memoryBytes: 64 << 20, pids: 64, nanoCpus: 500_000_000 },
    extraHosts: ['db:10.9.8.7'],
    dns: { servers: ['10.0.0.53'], searches: ['shoal.internal'] },
    labels: { app: 'web' },
  });
  const h = await timed('prepare', () => rt.prepare(s));
  // Volumes are root-owned host dirs created on first use (uid 1000 may read, not write).
  await writeFile(join(cd.stateRoot, 'volumes/vol1/pre'), 'persisted\n');
  await timed('start', () => rt.start(h));
  const i = await rt.inspect(h);
  t.is(i.state, 'running');
  t.true((i.pid ?? 0) > 0);
  await waitFor('log line "hi"', async () => (await logText(h)).includes('hi'));
  t.regex(await logText(h), /arg=zero bar baz/);
  t.true((await rt.logPath(h)).startsWith(cd.stateRoot));

  const sh = async (cmd: string): Promise<string> => {
    const r = await rt.exec(h, ['sh', '-c', cmd], 5000);
    t.is(r.exitCode, 0, `${cmd}: ${r.stderr}`);
    return r.stdout.trim();
  };
  t.deepEqual(await rt.exec(h, ['echo', 'x'], 5000), { exitCode: 0, stdout: 'x\n', stderr: '' });
  t.is(await sh('echo "$FOO|$EMPTY|"'), 'bar baz||');
  t.is(await sh('pwd'), '/tmp');
  t.is(await sh('id -u; id -g'), '1000\n1000');
  t.true((await sh('id -G')).split(' ').includes('2000'));
  t.is(await sh('hostname'), 'web-1');
  const ro = await rt.exec(h, ['sh', '-c', 'touch /rootfile'], 5000);
  t.not(ro.exitCode, 0, 'root filesystem is read-only');
  t.is(await sh('cat /data/hello.txt'), 'from host');
  t.not((await rt.exec(h, ['sh', '-c', 'touch /data/x'], 5000)).exitCode, 0, 'bind mount is read-only');
  t.regex(await sh('grep " /scratch " /proc/mounts'), /tmpfs .*size=8192k/);
  await sh('echo tmp > /scratch/f && cat /scratch/f');
  t.is(await sh('cat /vol/pre'), 'persisted');
  t.regex(await sh('cat /etc/hosts'), /10\.9\.8\.7\s+db/);
  t.regex(await sh('cat /etc/resolv.conf'), /nameserver 10\.0\.0\.53/);

  const cg = `${cd.cgroupRoot}/${s.taskId}/${h.containerId}`;
  t.is(await readCgroupFile(cg, 'memory', 'memory.limit_in_bytes'), String(64 << 20));
  t.is(await readCgroupFile(cg, 'pids', 'pids.max'), '64');
  t.is(await readCgroupFile(cg, 'cpu', 'cpu.cfs_quota_us'), '50000');
  const st = await rt.stats(h);
  t.true(st.memoryWorkingSetBytes > 0 && st.cpuUsageNanos >= 0);

  const [mine] = (await rt.list()).filter((c) => c.handle.taskId === s.taskId);
  t.like(mine, { handle: h, serviceId: 'svc1', nodeId: 'node-a', state: 'running' });
  t.is(mine!.labels.app, 'web');

  await cleanup(h);
  t.is(await readFile(join(cd.stateRoot, 'volumes/vol1/pre'), 'utf8'), 'persisted\n', 'volume outlives the task');
  t.false(existsSync(rt.taskDir(s.taskId)), 'task dir (logs, tmpfs, hosts) removed');
  await rm(host, { recursive: true });
  t.deepEqual(await existingCgroupDirs(`${cd.cgroupRoot}/${s.taskId}`), [], 'no pod cgroup dirs left');
  t.false((await rt.list()).some((c) => c.handle.taskId === s.taskId));
  await rt.remove(h); // idempotent
});

test.serial('ulimits are applied to the main process (lowering, same user)', async (t) => {
  const h = await run(spec({ ulimits: [{ name: 'nofile', soft: 123, hard: 456 }] }));
  t.regex((await rt.exec(h, ['sh', '-c', 'grep "open files" /proc/1/limits'], 5000)).stdout, /123\s+456/);
  await cleanup(h);
  // Raising a hard limit for another user's process needs CAP_SYS_RESOURCE; without it the
  // start fails with a readable error instead of running with the wrong limits.
  const capable = (await readFile('/proc/self/status', 'utf8')).match(/CapEff:\s+([0-9a-f]+)/)?.[1];
  const hasSysResource = capable !== undefined && (BigInt(`0x${capable}`) & (1n << 24n)) !== 0n;
  if (!hasSysResource) {
    const s = spec({ user: '1000', ulimits: [{ name: 'nofile', soft: 10, hard: 20 }] });
    const h2 = await timed('prepare', () => rt.prepare(s));
    const e = await t.throwsAsync(rt.start(h2));
    t.true(isRuntimeError(e, 'FailedPrecondition'), e?.message);
    t.regex(e!.message, /ulimits could not be applied/);
    t.is((await rt.inspect(h2)).state, 'exited');
    await rt.remove(h2);
  }
});

test.serial('stop: a container ignoring SIGTERM is killed after the grace period (137)', async (t) => {
  const h = await run(spec({ command: ['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 1; done'] }));
  await waitFor('"ready" in the log', async () => (await logText(h)).includes('ready'));
  const t0 = performance.now();
  await rt.stop(h, { graceMs: 1000 });
  const took = performance.now() - t0;
  t.like(await rt.inspect(h), { state: 'exited', exitCode: 137 });
  t.true(took >= 1000 && took < 4000, `stop took ${took.toFixed(0)} ms`);
  await rt.stop(h); // idempotent on an exited container
  await timed('remove', () => rt.remove(h));
});

test.serial('stop: the custom stop signal is honoured', async (t) => {
  const h = await run(spec({ stopSignal: 'SIGUSR1', stopGraceMs: 10_000, command: ['sh', '-c', 'trap "echo got usr1; exit 0" USR1; echo ready; while :; do sleep 0.1; done'] }));
  await waitFor('"ready" in the log', async () => (await logText(h)).includes('ready'));
  const t0 = performance.now();
  await timed('stop', () => rt.stop(h));
  const took = performance.now() - t0;
  t.like(await rt.inspect(h), { state: 'exited', exitCode: 0 });
  t.true(took < 5000, `stop took ${took.toFixed(0)} ms (well under the 10 s grace)`);
  t.regex(await logText(h), /got usr1/);
  await timed('remove', () => rt.remove(h));
});

test.serial('exit code, init and network modes', async (t) => {
  const e = await run(spec({ command: ['sh', '-c', 'echo bye >&2; exit 3'] }));
  const i = await waitFor('container to exit', async () => { const x = await rt.inspect(e); return x.state === 'exited' && x; });
  t.is(i.exitCode, 3);
  t.is(i.reason, 'Error');
  // containerd stamps started_at after its Start call returns, and the shim's exit time can come
  // first for a process that exits at once: allow a second of skew, but both must be set
  t.true((i.startedAt ?? 0) > 0 && (i.finishedAt ?? 0) > 0, `startedAt ${i.startedAt}, finishedAt ${i.finishedAt}`);
  t.true(i.finishedAt! >= i.startedAt! - 1_000, `startedAt ${i.startedAt}, finishedAt ${i.finishedAt}`);
  const logs: LogEntry[] = [];
  for await (const x of rt.logs(e)) logs.push(x);
  t.deepEqual(logs.map((x) => [x.stream, x.text]), [['stderr', 'bye']]);
  await cleanup(e);

  const none = await run(spec({ network: { mode: 'none' }, init: true }));
  t.is((await rt.exec(none, ['sh', '-c', 'ls /sys/class/net'], 5000)).stdout.trim(), 'lo');
  t.regex((await rt.exec(none, ['cat', '/proc/1/cmdline'], 5000)).stdout, /trap/, 'with init, the sandbox reaper is PID 1');
  await cleanup(none);

  const bridge = await run(spec({}));
  t.regex((await rt.exec(bridge, ['sh', '-c', 'ip -o -4 addr show eth0'], 5000)).stdout, /inet 10\.213\./);
  await cleanup(bridge);
});

test.serial('a fresh CriRuntime re-adopts running containers by label', async (t) => {
  const s = spec({ stopSignal: 'SIGUSR1', command: ['sh', '-c', 'trap "exit 0" USR1; while :; do sleep 0.1; done'] });
  const h = await run(s);
  const fresh = newRuntime();
  try {
    const found = (await fresh.list()).find((c) => c.handle.taskId === s.taskId);
    t.truthy(found);
    t.deepEqual(found!.handle, h);
    t.is(found!.state, 'running');
    t.is(found!.slot, s.slot);
    // A second prepare for the same task returns the existing container instead of a new one.
    t.deepEqual(await fresh.prepare(s), h);
    await fresh.stop(found!.handle); // uses the stop signal recorded in the labels
    t.like(await fresh.inspect(h), { state: 'exited', exitCode: 0 });
    await fresh.remove(found!.handle);
  } finally {
    await fresh.close();
  }
});

test.serial('inspect of a running container fetches the pid with a verbose status once, then reuses it until the container exits', async (t) => {
  const fresh = newRuntime();
  const cri = (fresh as unknown as { cri: { runtime: (m: string, req: { verbose?: boolean }, o?: unknown) => Promise<unknown> } }).cri;
  const real = cri.runtime;
  let verbose = 0;
  cri.runtime = (m, req, o) => {
    if (m === 'ContainerStatus' && req.verbose) verbose++;
    return real(m, req, o);
  };
  try {
    const s = spec({ command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done'] });
    const h = await fresh.prepare(s);
    await fresh.start(h);
    const first = await fresh.inspect(h);
    t.is(first.state, 'running');
    t.true((first.pid ?? 0) > 0);
    t.true(existsSync(`/proc/${first.pid}`), 'the pid is the container process on the host');
    const before = verbose;
    for (let i = 0; i < 5; i++) t.like(await fresh.inspect(h), { state: 'running', pid: first.pid });
    t.is(verbose, before, 'no verbose ContainerStatus for a pid already known');
    await fresh.stop(h, { graceMs: 2000 });
    const after = await fresh.inspect(h);
    t.like(after, { state: 'exited', exitCode: 0 });
    t.is(after.pid, undefined);
    await fresh.remove(h);
  } finally {
    cri.runtime = real;
    await fresh.close();
  }
});

test.serial('per task, prepare/start/inspect ask containerd only what they need; the image is asked once; a failed prepare forgets it', async (t) => {
  const fresh = newRuntime();
  const cri = (fresh as unknown as { cri: Record<'runtime' | 'image', (m: string, req: { verbose?: boolean }, o?: unknown) => Promise<unknown>> }).cri;
  const real = { runtime: cri.runtime, image: cri.image };
  const calls: Record<string, number> = {};
  for (const svc of ['runtime', 'image'] as const) {
    cri[svc] = (m, req, o) => {
      const k = m === 'ContainerStatus' && req.verbose ? 'ContainerStatus(verbose)' : m;
      calls[k] = (calls[k] ?? 0) + 1;
      return real[svc](m, req, o);
    };
  }
  const handles: ContainerHandle[] = [];
  try {
    t.true(await fresh.imageExists('shoal-test/busybox:1'));
    for (let i = 0; i < 2; i++) {
      const h = await fresh.prepare(spec({}));
      handles.push(h);
      await fresh.start(h);
      t.like(await fresh.inspect(h), { state: 'running' });
      t.like(await fresh.inspect(h), { state: 'running' });
    }
    t.deepEqual(calls, {
      ImageStatus: 1,
      ListPodSandbox: 2, // the stale-sandbox check; no ListContainers without a sandbox
      RunPodSandbox: 2,
      PodSandboxStatus: 2, // the IP for /etc/hosts
      CreateContainer: 2,
      StartContainer: 2,
      'ContainerStatus(verbose)': 2, // the first inspect learns the pid
      ContainerStatus: 2,
    });
    // prepare is still idempotent: the task's existing container is found through its sandbox
    const s = spec({});
    const h1 = await fresh.prepare(s);
    handles.push(h1);
    t.deepEqual(await fresh.prepare(s), h1);
    // a prepare that fails after the image check makes the next check ask containerd again
    const before = calls.ImageStatus ?? 0;
    await t.throwsAsync(fresh.prepare(spec({ sysctls: { 'net.shoal.nope': '1' } })));
    t.true(await fresh.imageExists('shoal-test/busybox:1'));
    t.is(calls.ImageStatus, before + 1);
  } finally {
    for (const svc of ['runtime', 'image'] as const) cri[svc] = real[svc];
    for (const h of handles) {
      await fresh.stop(h, { graceMs: 0 }).catch(() => undefined);
      await fresh.remove(h);
    }
    await fresh.close();
  }
});

test.serial('concurrent prepare/start/stop/remove on one instance', async (t) => {
  const specs = Array.from({ length: 4 }, () => spec({}));
  const handles = await Promise.all(specs.map((s) => run(s)));
  t.is(new Set(handles.map((h) => h.sandboxId)).size, 4);
  const states = await Promise.all(handles.map((h) => rt.inspect(h)));
  t.deepEqual(states.map((x) => x.state), ['running', 'running', 'running', 'running']);
  await Promise.all(handles.map((h) => cleanup(h)));
  for (const s of specs) t.deepEqual(await existingCgroupDirs(`${cd.cgroupRoot}/${s.taskId}`), []);
});

test.serial('exec errors are readable', async (t) => {
  const h = await run(spec({}));
  const e = await t.throwsAsync(rt.exec(h, ['/no/such/binary'], 5000));
  t.true(isRuntimeError(e));
  t.regex(e!.message, /^exec: task .*no such file|not found/);
  const slow = await t.throwsAsync(rt.exec(h, ['sleep', '5'], 1000));
  t.true(isRuntimeError(slow, 'DeadlineExceeded'), slow?.message);
  await cleanup(h);
  const gone = await t.throwsAsync(rt.inspect(h));
  t.true(isRuntimeError(gone, 'NotFound'), gone?.message);
});

const capBit = (status: string, cap: number): boolean => {
  const eff = status.match(/CapEff:\s+([0-9a-f]+)/)?.[1];
  return eff !== undefined && (BigInt(`0x${eff}`) & (1n << BigInt(cap))) !== 0n;
};
const CAP_CHOWN = 0;
const CAP_NET_ADMIN = 12;

test.serial('sysctls and capabilities add/drop reach the container', async (t) => {
  const h = await run(spec({
    sysctls: { 'net.ipv4.ip_local_port_range': '20000\t30000', 'kernel.shmmni': '2048' },
    capAdd: ['NET_ADMIN'], capDrop: ['CHOWN'],
  }));
  const sh = async (h2: ContainerHandle, cmd: string) => rt.exec(h2, ['sh', '-c', cmd], 5000);
  t.is((await sh(h, 'cat /proc/sys/net/ipv4/ip_local_port_range')).stdout.trim().split(/\s+/).join(' '), '20000 30000');
  t.is((await sh(h, 'cat /proc/sys/kernel/shmmni')).stdout.trim(), '2048');
  const status = (await sh(h, 'cat /proc/self/status')).stdout;
  t.true(capBit(status, CAP_NET_ADMIN), 'NET_ADMIN added');
  t.false(capBit(status, CAP_CHOWN), 'CHOWN dropped');
  t.not((await sh(h, 'touch /tmp/f && chown 1:1 /tmp/f')).exitCode, 0, 'chown fails without CAP_CHOWN');
  t.is((await sh(h, 'ip link set lo mtu 1400 && cat /sys/class/net/lo/mtu')).stdout.trim(), '1400', 'NET_ADMIN allows changing a link');
  await cleanup(h);

  // The defaults, for contrast: CHOWN kept, no NET_ADMIN.
  const d = await run(spec({}));
  const ds = (await sh(d, 'cat /proc/self/status')).stdout;
  t.true(capBit(ds, CAP_CHOWN));
  t.false(capBit(ds, CAP_NET_ADMIN));
  t.not((await sh(d, 'ip link set lo mtu 1400')).exitCode, 0);
  await cleanup(d);
});

test.serial('stop: a container that traps SIGTERM exits on it, well before the grace period ends', async (t) => {
  const h = await run(spec({ stopGraceMs: 20_000, command: ['sh', '-c', 'trap "echo got term; exit 7" TERM; echo ready; while :; do sleep 0.1; done'] }));
  await waitFor('"ready" in the log', async () => (await logText(h)).includes('ready'));
  const t0 = performance.now();
  await timed('stop', () => rt.stop(h));
  const took = performance.now() - t0;
  t.like(await rt.inspect(h), { state: 'exited', exitCode: 7 });
  t.true(took < 10_000, `stop took ${took.toFixed(0)} ms (the 20 s grace was not waited out)`);
  t.regex(await logText(h), /got term/);
  await timed('remove', () => rt.remove(h));
});

test.serial('stats: CPU time grows while the container spins; memory working set is reported', async (t) => {
  const h = await run(spec({ command: ['sh', '-c', 'while :; do :; done'], resources: { memoryBytes: 32 << 20 } }));
  const first = await rt.stats(h);
  t.true(first.timestamp > 0);
  t.true(first.memoryWorkingSetBytes > 0, `working set ${first.memoryWorkingSetBytes}`);
  const later = await waitFor('CPU usage to grow by 50 ms', async () => {
    const s = await rt.stats(h);
    return s.cpuUsageNanos >= first.cpuUsageNanos + 50_000_000 && s;
  }, 30_000);
  t.true(later.timestamp >= first.timestamp);
  await cleanup(h);
  const gone = await t.throwsAsync(rt.stats(h));
  t.true(isRuntimeError(gone, 'NotFound'), gone?.message);
});

test.serial('a command that does not exist fails start with a readable error, and the task is cleaned up', async (t) => {
  const s = spec({ command: ['/no/such/program'] });
  const h = await timed('prepare', () => rt.prepare(s));
  const e = await t.throwsAsync(rt.start(h));
  t.true(isRuntimeError(e, 'InvalidArgument'), `${e?.name} ${(e as { code?: string })?.code}: ${e?.message}`);
  t.regex(e!.message, /^start: task \S+: .*"\/no\/such\/program".*no such file or directory/);
  t.log(e!.message);
  t.not((await rt.inspect(h)).state, 'running');
  await rt.remove(h);
  t.false(existsSync(rt.taskDir(s.taskId)));
  t.deepEqual(await existingCgroupDirs(`${cd.cgroupRoot}/${s.taskId}`), []);
});

test.serial('prune removes what interrupted work left (sandbox without container, task dir, pod cgroup) and spares kept and live tasks', async (t) => {
  const live = spec({});
  const hLive = await run(live);
  const cri = (rt as unknown as { cri: { runtime: (m: string, req: object) => Promise<{ items?: { id: string }[] }> } }).cri;
  // Prepares interrupted after RunPodSandbox: a sandbox, task dir and pod cgroup, no container.
  // One is of a task still assigned (in keep: its prepare will be retried), one is not.
  const kept = spec({});
  const hKept = await rt.prepare(kept);
  await cri.runtime('RemoveContainer', { containerId: hKept.containerId });
  const torn = spec({});
  const hTorn = await rt.prepare(torn);
  await cri.runtime('RemoveContainer', { containerId: hTorn.containerId });
  // A task dir and a pod cgroup of a task that never got a sandbox.
  const strayId = `stray${process.pid}`;
  const strayDir = rt.taskDir(strayId);
  const { mkdir: mk, utimes } = await import('node:fs/promises');
  await mk(join(strayDir, 'logs'), { recursive: true });
  await writeFile(join(strayDir, 'logs/container.log'), 'old\n');
  await utimes(strayDir, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
  await mk(`/sys/fs/cgroup/memory${cd.cgroupRoot}/${strayId}`, { recursive: true }).catch(() => undefined);
  // A fresh task dir (a prepare may be racing with the prune): left alone.
  const freshId = `fresh${process.pid}`;
  await mk(join(rt.taskDir(freshId), 'logs'), { recursive: true });

  t.true(existsSync(rt.taskDir(torn.taskId)));
  t.not((await existingCgroupDirs(`${cd.cgroupRoot}/${torn.taskId}`)).length, 0);
  const cleaned = await rt.prune(new Set([kept.taskId]));
  t.deepEqual(cleaned, [strayId, torn.taskId].sort());
  t.false(existsSync(rt.taskDir(torn.taskId)));
  t.deepEqual(await existingCgroupDirs(`${cd.cgroupRoot}/${torn.taskId}`), []);
  const sbs = (await cri.runtime('ListPodSandbox', {})).items ?? [];
  t.false(sbs.some((s) => s.id === hTorn.sandboxId), 'the torn sandbox is gone');
  t.true(sbs.some((s) => s.id === hKept.sandboxId), 'the sandbox of a kept task stays');
  t.true(existsSync(rt.taskDir(kept.taskId)));
  t.false(existsSync(strayDir));
  t.deepEqual(await existingCgroupDirs(`${cd.cgroupRoot}/${strayId}`), []);
  t.true(existsSync(rt.taskDir(freshId)), 'a young task dir is left alone');
  t.is((await rt.inspect(hLive)).state, 'running', 'a live task is untouched');
  t.true(existsSync(rt.taskDir(live.taskId)));
  t.deepEqual(await rt.prune(new Set([kept.taskId])), [], 'nothing more to prune');
  t.deepEqual(await rt.prune(new Set()), [kept.taskId], 'once no longer kept, its torn sandbox goes too');
  t.false(existsSync(rt.taskDir(kept.taskId)));
  await cleanup(hLive);
  await rm(rt.taskDir(freshId), { recursive: true });
});

test.serial('the memory limit is enforced: the container is OOMKilled (137)', async (t) => {
  const oom = await run(spec({ resources: { memoryBytes: 16 << 20 }, command: ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'] }));
  const i = await waitFor('the memory hog to be killed', async () => { const x = await rt.inspect(oom); return x.state === 'exited' && x; }, 30_000);
  t.like(i, { exitCode: 137, reason: 'OOMKilled' });
  t.notRegex(await logText(oom), /survived/);
  await cleanup(oom);
});

test.serial('remove of a running container (never stopped) kills it and removes everything', async (t) => {
  const s = spec({});
  const h = await run(s);
  t.is((await rt.inspect(h)).state, 'running');
  await timed('remove', () => rt.remove(h));
  t.false((await rt.list()).some((c) => c.handle.taskId === s.taskId));
  t.false(existsSync(rt.taskDir(s.taskId)));
  t.deepEqual(await existingCgroupDirs(`${cd.cgroupRoot}/${s.taskId}`), []);
});

test.serial('tasks on one node reach each other over the node bridge (CNI)', async (t) => {
  const srv = await run(spec({ command: ['sh', '-c', 'mkdir -p /tmp/www && echo hello-from-srv > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'] }));
  const cli = await run(spec({}));
  const ip = (await rt.exec(srv, ['sh', '-c', "ip -o -4 addr show eth0 | awk '{print $4}' | cut -d/ -f1"], 5000)).stdout.trim();
  t.regex(ip, /^10\.213\.\d+\.\d+$/);
  // busybox 1.35: no `wget -T` (it crashes); ExecSync's timeout bounds it.
  const body = await waitFor('the server to answer', async () => {
    const r = await rt.exec(cli, ['wget', '-q', '-O', '-', `http://${ip}:8080/`], 5000);
    return r.exitCode === 0 && r.stdout;
  }, 20_000);
  t.is(body.trim(), 'hello-from-srv');
  await Promise.all([cleanup(srv), cleanup(cli)]);
});
