// End to end on the CRI runtime: real shoald processes (1 manager + 1 worker) running real
// containers through a private containerd (root; started and removed by the test): a service
// comes and goes; its logs (tail, streams, follow); secrets and configs mounted into containers.
import test from 'ava';
import { createClient, LogsClient, LogStream, ServiceSpec, ShoalError, TaskState, type SubscribeLogsMessage, type SubscribeLogsRequest } from '@shoal/api';
import { containerdUp, observed, startCluster, type Cluster, type PrivateContainerd } from '@shoal/testkit';
import { waitRunning } from './_cluster.js';

let cd: PrivateContainerd | undefined;
let cluster: Cluster | undefined;

test.before(async () => {
  cd = await containerdUp('it-cri');
  cluster = await startCluster({
    managers: 1,
    workers: 1,
    runtime: 'cri',
    containerdSocket: cd.socket,
    nodeFlags: { m1: ['--cgroup-parent', cd.cgroupParent('m1')], w1: ['--cgroup-parent', cd.cgroupParent('w1')] },
  });
});
test.afterEach.always((t) => {
  if (!t.passed && cluster) t.log(cluster.failureReport(40));
});
test.after.always(async () => {
  await cluster?.stop();
  await cd?.down();
});

test.serial('a replicated service runs real containers on both nodes, and goes away when removed', async (t) => {
  const api = cluster!.api;
  const spec = ServiceSpec.fromPartial({
    annotations: { name: 'sleeper', labels: {} },
    task: { container: { image: 'shoal-test/busybox:1', command: ['sh', '-c', 'sleep 1000'], stopGracePeriod: { seconds: 1, nanos: 0 } } },
    mode: { $case: 'replicated', replicated: { replicas: 2 } },
  });
  const id = (await api.createService({ spec })).service!.id;
  const { report, duplicates } = await waitRunning(api, id, 2, 60_000, 'sleeper on containerd');
  t.deepEqual(duplicates, []);
  t.is(Object.keys(report.byNode).length, 2, 'one container per node');
  const tasks = (await api.listTasks({ serviceIds: [id] })).tasks;
  t.true(tasks.every((x) => Boolean(x.status?.container?.containerId)), 'every task reports its container id');
  await api.removeService({ serviceId: id });
  await cluster!.waitFor('every container of the removed service has stopped (or its task is gone)', async () => {
    const left = (await api.listTasks({ serviceIds: [id] })).tasks;
    const live = left.filter((x) => (x.status?.state ?? TaskState.NEW) <= TaskState.RUNNING);
    return observed(live.length === 0, left.map((x) => ({ id: x.id, state: TaskState[x.status?.state ?? 0], desired: TaskState[x.desiredState] })));
  }, 30_000);
});

/** Reads a subscription to its end: the lines as "stream text", and the status it ended with. */
function readLogs(addr: string, req: SubscribeLogsRequest, onLine?: (lines: string[]) => void): { lines: string[]; done: Promise<ShoalError | undefined>; cancel: () => void } {
  const client = createClient(LogsClient, addr);
  const lines: string[] = [];
  const call = client.subscribeLogs(req);
  const done = new Promise<ShoalError | undefined>((resolve) => {
    call.on('data', (m: SubscribeLogsMessage) => {
      for (const l of m.messages) lines.push(`${l.stream === LogStream.STDERR ? 'stderr' : 'stdout'} ${l.data.toString().trimEnd()}`);
      onLine?.(lines);
    });
    call.on('error', (e: unknown) => resolve(ShoalError.fromGrpc(e)));
    call.on('end', () => resolve(undefined));
  }).finally(() => client.close());
  return { lines, done, cancel: () => call.cancel() };
}

const logsReq = (serviceIds: string[], o: { follow?: boolean; tail?: number; streams?: LogStream[] } = {}): SubscribeLogsRequest => ({
  selector: { serviceIds, nodeIds: [], taskIds: [] },
  options: { streams: o.streams ?? [], follow: o.follow ?? false, tail: o.tail ?? -1, since: undefined },
});

test.serial('service logs of real containers: tail and stream selection; follow ends when the service is removed', async (t) => {
  const api = cluster!.api;
  const addr = cluster!.node('m1').listenAddr;
  const spec = ServiceSpec.fromPartial({
    annotations: { name: 'talker', labels: {} },
    task: {
      container: {
        image: 'shoal-test/busybox:1',
        command: ['sh', '-c', 'echo line 1; echo line 2; echo line 3; echo oops >&2; i=3; while true; do sleep 0.3; i=$((i+1)); echo line $i; done'],
        stopGracePeriod: { seconds: 1, nanos: 0 },
      },
    },
    mode: { $case: 'replicated', replicated: { replicas: 2 } },
  });
  const id = (await api.createService({ spec })).service!.id;
  await waitRunning(api, id, 2, 60_000, 'talker');
  const all = await cluster!.waitFor('both containers logged their first lines', async () => {
    const r = readLogs(addr, logsReq([id]));
    const err = await r.done;
    const ok = !err && r.lines.filter((l) => l === 'stdout line 3').length === 2 && r.lines.filter((l) => l === 'stderr oops').length === 2;
    return observed(ok, { err: err?.message, lines: r.lines.slice(0, 12) }, r.lines);
  }, 30_000);
  t.true(all!.length >= 8);
  const tail = readLogs(addr, logsReq([id], { tail: 1, streams: [LogStream.STDERR] }));
  t.is(await tail.done, undefined);
  t.deepEqual(tail.lines, ['stderr oops', 'stderr oops'], 'the last stderr line of each task');

  const follow = readLogs(addr, logsReq([id], { follow: true, tail: 0, streams: [LogStream.STDOUT] }));
  await cluster!.waitFor('new lines while following', () => observed(follow.lines.length >= 4, follow.lines), 30_000);
  t.true(follow.lines.every((l) => /^stdout line \d+$/.test(l)), follow.lines.join('\n'));
  await api.removeService({ serviceId: id });
  const ended = await Promise.race([follow.done.then((e) => ({ e })), new Promise<'hang'>((r) => setTimeout(() => r('hang'), 45_000))]);
  t.not(ended, 'hang', 'the follow ends once the containers are gone');
  t.is((ended as { e: ShoalError | undefined }).e, undefined, 'and ends OK: every publisher closed');
});

test.serial('secrets and configs are mounted read-only into real containers', async (t) => {
  const api = cluster!.api;
  const addr = cluster!.node('m1').listenAddr;
  const secret = (await api.createSecret({ spec: { annotations: { name: 'db_pw', labels: {} }, data: Buffer.from('hunter2') } })).secret!;
  const config = (await api.createConfig({ spec: { annotations: { name: 'app_conf', labels: {} }, data: Buffer.from('port=80') } })).config!;
  const spec = ServiceSpec.fromPartial({
    annotations: { name: 'reader', labels: {} },
    task: {
      container: {
        image: 'shoal-test/busybox:1',
        command: ['sh', '-c', 'echo "secret=$(cat /run/secrets/db_pw) mode=$(stat -c %a /run/secrets/db_pw)"; echo "config=$(cat /etc/app.conf)"; echo x >> /run/secrets/db_pw || echo read-only; sleep 1000'],
        stopGracePeriod: { seconds: 1, nanos: 0 },
        secrets: [{ secretId: secret.id, secretName: 'db_pw', file: { name: 'db_pw', uid: '0', gid: '0', mode: 0o400 } }],
        configs: [{ configId: config.id, configName: 'app_conf', file: { name: '/etc/app.conf', uid: '0', gid: '0', mode: 0o444 } }],
      },
    },
    mode: { $case: 'replicated', replicated: { replicas: 1 } },
  });
  const id = (await api.createService({ spec })).service!.id;
  await waitRunning(api, id, 1, 60_000, 'reader');
  const lines = await cluster!.waitFor('the container printed its secret and config', async () => {
    const r = readLogs(addr, logsReq([id], { streams: [LogStream.STDOUT] }));
    await r.done;
    return observed(r.lines.length >= 3, r.lines, r.lines);
  }, 30_000);
  t.deepEqual(lines, ['stdout secret=hunter2 mode=400', 'stdout config=port=80', 'stdout read-only']);
  await api.removeService({ serviceId: id });
});
