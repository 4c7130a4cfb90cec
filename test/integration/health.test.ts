// Health checks end to end on a real single-node cluster (one shoald, manager and worker, hollow
// runtime whose exec runs "sh -c 'exit N'"): the agent's health reaches the task status in the
// store; an unhealthy task FAILS and is replaced per its restart policy (condition any), or stays
// FAILED with condition none.
import test from 'ava';
import { HealthState, RestartCondition, ServiceSpec, TaskState, type Task } from '@shoal/api';
import { HOLLOW_IMAGE, observed } from '@shoal/testkit';
import { stateName, useCluster } from './_cluster.js';

const cluster = useCluster(test, { managers: 1, workers: 0, runtime: 'hollow', heartbeatPeriod: '500ms' });

function spec(name: string, test: string[], condition: RestartCondition): ServiceSpec {
  return ServiceSpec.fromPartial({
    annotations: { name, labels: {} },
    task: {
      container: { image: HOLLOW_IMAGE, healthcheck: { test, interval: { seconds: 0, nanos: 300_000_000 }, timeout: { seconds: 1 }, retries: 2 } },
      restart: { condition, delay: { seconds: 0 } },
    },
    mode: { $case: 'replicated', replicated: { replicas: 1 } },
  });
}

const show = (ts: Task[]) => ts.map((x) => ({ id: x.id, state: stateName(x.status?.state), desired: stateName(x.desiredState), health: HealthState[x.status?.health ?? 0], err: x.status?.err }));

test.serial('a healthy task reports HEALTHY in its status (CMD-SHELL)', async (t) => {
  const c = cluster();
  const id = (await c.api.createService({ spec: spec('fine', ['CMD-SHELL', 'exit 0'], RestartCondition.RESTART_ANY) })).service!.id;
  const tasks = await c.waitFor('fine: one task RUNNING and HEALTHY', async () => {
    const { tasks } = await c.api.listTasks({ serviceIds: [id] });
    return observed(tasks.length === 1 && tasks[0]!.status?.state === TaskState.RUNNING && tasks[0]!.status.health === HealthState.HEALTHY, show(tasks), tasks);
  }, 60_000);
  t.is(tasks![0]!.status?.err, '');
});

test.serial('an unhealthy task fails and is replaced per its restart policy (CMD)', async (t) => {
  const c = cluster();
  const id = (await c.api.createService({ spec: spec('sick', ['CMD', 'false'], RestartCondition.RESTART_ANY) })).service!.id;
  const tasks = await c.waitFor('sick: a task FAILED as unhealthy and a replacement in its slot', async () => {
    const { tasks } = await c.api.listTasks({ serviceIds: [id] });
    const failed = tasks.filter((x) => x.status?.state === TaskState.FAILED);
    return observed(failed.length >= 1 && tasks.length >= 2, show(tasks), tasks);
  }, 60_000);
  const failed = tasks!.find((x) => x.status?.state === TaskState.FAILED)!;
  t.is(failed.status?.err, 'task: unhealthy container');
  t.is(failed.status?.health, HealthState.UNHEALTHY);
  t.true(tasks!.every((x) => x.slot === 1), 'the replacement takes the same slot');
});

test.serial('with restart condition none, an unhealthy task stays FAILED and is not replaced', async (t) => {
  const c = cluster();
  const id = (await c.api.createService({ spec: spec('once', ['CMD-SHELL', 'exit 1'], RestartCondition.RESTART_NONE) })).service!.id;
  await c.waitFor('once: its task FAILED as unhealthy', async () => {
    const { tasks } = await c.api.listTasks({ serviceIds: [id] });
    return observed(tasks.some((x) => x.status?.state === TaskState.FAILED && x.status.err === 'task: unhealthy container'), show(tasks));
  }, 60_000);
  // the orchestrator had time to act on the failure; still a single task
  await new Promise((r) => setTimeout(r, 3_000));
  const { tasks } = await c.api.listTasks({ serviceIds: [id] });
  t.is(tasks.length, 1, JSON.stringify(show(tasks)));
});
