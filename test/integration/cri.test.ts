// End to end on the CRI runtime: real shoald processes (1 manager + 1 worker) running real
// containers through a private containerd (root; started and removed by the test).
import test from 'ava';
import { ServiceSpec, TaskState } from '@shoal/api';
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
