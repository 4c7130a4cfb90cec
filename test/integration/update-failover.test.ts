// A rolling update survives a leader crash (issue 7): 3 managers + 2 workers, hollow runtime.
// Also: a canary update driven through the CLI (`shoal service update --update-canary`, then
// `--promote`). The update of 12 replicas (parallelism 2, a delay between batches) is under way when the leader
// is SIGKILLed; the new leader's updater resumes it from the UpdateStatus in the store — no
// restart from scratch, no slot updated twice — and completes it.
import { spawn } from 'node:child_process';
import test from 'ava';
import { msDuration, TaskState, UpdateState, type Service, type Task } from '@shoal/api';
import { HOLLOW_IMAGE, observed, REPO_ROOT, replicatedSpec, waitFor } from '@shoal/testkit';
import { useCluster, waitRunning } from './_cluster.js';

// Heartbeats at the daemon's default 5 s (grace 15 s): with 500 ms, a worker whose session took a
// few seconds to find the new leader on a loaded machine was marked down and its tasks replaced by
// the orchestrator — a node loss, which is not what this test is about.
const cluster = useCluster(test, { managers: 3, workers: 2, runtime: 'hollow', heartbeatPeriod: '5s' });

const NEW_IMAGE = 'docker.io/library/hollow:2';
const REPLICAS = 12;

/** The CLI from the sources, as a user runs it. */
function shoal(host: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=shoal-src', 'packages/cli/src/main.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, SHOAL_HOST: host },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const stateOf = async (api: ReturnType<typeof cluster>['api'], id: string): Promise<Service> => (await api.getService({ serviceId: id })).service!;

test.serial('canary through the CLI: waits after the first batch until `shoal service update --promote`', async (t) => {
  const c = cluster();
  const api = c.api;
  const host = (await c.leader()).listenAddr;
  const spec = replicatedSpec('canary-cli', 6, { constraints: ['node.role==worker'] });
  const id = (await api.createService({ spec })).service!.id;
  t.deepEqual((await waitRunning(api, id, 6, 60_000, 'canary-cli deploy')).duplicates, []);

  const upd = await shoal(host, ['service', 'update', '--image', NEW_IMAGE, '--update-parallelism', '2', '--update-monitor', '500ms', '--update-canary', 'canary-cli']);
  t.is(upd.code, 0, upd.out);
  // (the CLI may return before the leader's updater has picked the new spec up: wait for it here)
  const waiting = (await waitFor<Service>(
    'the canary waiting for promotion',
    async () => {
      const s = await stateOf(api, id);
      return observed(s.updateStatus?.state === UpdateState.CANARY_WAITING, s.updateStatus, s);
    },
    60_000,
  ))!;
  t.regex(waiting.updateStatus!.message, /waiting for promotion \(shoal service update --promote canary-cli\)/);
  const fresh = (await api.listTasks({ serviceIds: [id] })).tasks.filter((x) => x.spec?.container?.image === NEW_IMAGE && x.desiredState === TaskState.RUNNING);
  t.is(fresh.length, 2, 'only the first batch runs the new image');

  const promote = await shoal(host, ['service', 'update', '--promote', 'canary-cli']);
  t.is(promote.code, 0, promote.out);
  t.regex(promote.out, /^canary-cli: promoted$/m);
  const done = await stateOf(api, id);
  t.is(done.updateStatus?.state, UpdateState.COMPLETED, JSON.stringify(done.updateStatus));
  const tasks = (await api.listTasks({ serviceIds: [id] })).tasks.filter((x) => x.desiredState === TaskState.RUNNING);
  t.is(tasks.length, 6);
  t.true(tasks.every((x) => x.spec?.container?.image === NEW_IMAGE && x.status?.state === TaskState.RUNNING));

  const again = await shoal(host, ['service', 'update', '--promote', 'canary-cli']);
  t.is(again.code, 1, 'nothing to promote any more');
  t.regex(again.out, /no canary update waiting for promotion/);
});

test.serial('SIGKILL the leader in the middle of a rolling update: the new leader resumes it, each slot updated exactly once', async (t) => {
  const c = cluster();
  const api = c.api;
  // tasks only on the workers: the leader's crash must not take tasks with it (that would be a
  // node loss, rescheduled by the orchestrator, not the updater)
  const spec = replicatedSpec('update-failover', REPLICAS, { constraints: ['node.role==worker'] });
  spec.update = { parallelism: 2, delay: msDuration(1500), monitor: msDuration(500), failureAction: 0, maxFailureRatio: 0, order: 0, canary: undefined };
  const id = (await api.createService({ spec })).service!.id;
  t.deepEqual((await waitRunning(api, id, REPLICAS, 60_000, 'initial deploy')).duplicates, []);

  const cur = (await api.getService({ serviceId: id })).service!;
  const next = structuredClone(cur.spec!);
  next.task!.container!.image = NEW_IMAGE;
  await api.updateService({ serviceId: id, serviceVersion: cur.meta!.version, spec: next });

  // mid-update: some slots done or in flight, most still to do
  const mid = await waitFor<Service>(
    'the update under way with 4-8 of 12 slots begun',
    async () => {
      const s = (await api.getService({ serviceId: id })).service!;
      const n = s.updateStatus?.updated.length ?? 0;
      return observed(s.updateStatus?.state === UpdateState.UPDATING && n >= 4 && n <= 8, s.updateStatus, s);
    },
    60_000,
    { intervalMs: 100 },
  );
  const leader = await c.leader();
  await c.kill(leader, 'SIGKILL');
  const newLeader = await c.leader(30_000);
  t.not(newLeader.name, leader.name);
  t.log(`killed ${leader.name} with ${mid!.updateStatus!.updated.length} slots begun; new leader ${newLeader.name}`);

  const done = await waitFor<Service>(
    'the update COMPLETED on the new leader',
    async () => {
      const s = (await api.getService({ serviceId: id })).service!;
      return observed(s.updateStatus?.state === UpdateState.COMPLETED, s.updateStatus, s);
    },
    120_000,
    { intervalMs: 300 },
  );
  const { duplicates } = await waitRunning(api, id, REPLICAS, 60_000, 'every slot running after the update');
  t.deepEqual(duplicates, []);
  const tasks: Task[] = (await api.listTasks({ serviceIds: [id] })).tasks;
  const listing = (): string => tasks.map((x) => `slot ${x.slot} ${x.id} ${x.spec?.container?.image} ${TaskState[x.status!.state]}/${TaskState[x.desiredState]}`).join('\n');
  t.is(done!.updateStatus!.message, 'update completed');
  // the new leader carried the progress over instead of starting a new update, and updated
  // every slot itself
  t.is(done!.updateStatus!.startedAt, mid!.updateStatus!.startedAt);
  t.is(new Set(done!.updateStatus!.updated).size, REPLICAS, listing());

  const fresh = tasks.filter((x) => x.spec?.container?.image === NEW_IMAGE);
  const perSlot = new Map<number, Task[]>();
  for (const x of fresh) perSlot.set(x.slot, [...(perSlot.get(x.slot) ?? []), x]);
  t.deepEqual([...perSlot.keys()].sort((a, b) => a - b), Array.from({ length: REPLICAS }, (_, i) => i + 1), 'every slot has a new-spec task');
  for (const [slot, list] of perSlot) {
    t.is(list.length, 1, `slot ${slot}: ${list.length} new-spec tasks created (${list.map((x) => `${x.id}:${TaskState[x.status!.state]}`).join(', ')})`);
    t.is(list[0]!.status?.state, TaskState.RUNNING, `slot ${slot} runs its new task`);
  }
  // no old-spec task is still wanted
  t.deepEqual(
    tasks.filter((x) => x.spec?.container?.image === HOLLOW_IMAGE && x.desiredState <= TaskState.RUNNING).map((x) => x.id),
    [],
  );
});
