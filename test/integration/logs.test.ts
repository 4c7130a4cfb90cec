// Service logs end to end on a real cluster (3 managers + 2 workers, separate shoald processes,
// hollow runtime whose containers write a deterministic log): `shoal service logs` through a
// follower's control socket (forwarded to the leader, whose broker asks the agents), with tail,
// stream selection, timestamps, a task's logs, follow (which picks up a task started later); a
// worker SIGKILLed mid-follow ends the stream with a status naming it; once the node is down and
// its tasks replaced, logs work again.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ServiceSpec, TaskState } from '@shoal/api';
import { desiredRunning, observed, waitFor, type NodeProcess } from '@shoal/testkit';
import { useCluster, waitRunning } from './_cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const cluster = useCluster(test, { managers: 3, workers: 2, runtime: 'hollow', heartbeatPeriod: '500ms' });

interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function shoal(host: string, args: string[]): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=shoal-src', 'packages/cli/src/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, SHOAL_HOST: host },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  void exit.then(() => clearTimeout(timer));
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function run(host: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = shoal(host, args);
  const code = await r.exit;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

const lines = (s: string) => s.split('\n').filter(Boolean);
/** "web.3.abcdef…@host    | web.3 tick 7" -> { slot: '3', task: 'abcdef…', host, text } */
function parse(line: string) {
  const m = /^(?:(\S+) )?web\.(\d+)\.([\w-]+)@(\S+) {4}\| (.*)$/.exec(line);
  if (!m) throw new Error(`unexpected log line: ${JSON.stringify(line)}`);
  return { ts: m[1], slot: m[2]!, task: m[3]!, host: m[4]!, text: m[5]! };
}

let follower: NodeProcess;
let host = '';
let serviceId = '';

test.serial('a service with 4 tasks on the workers; the CLI speaks to a follower', async (t) => {
  const c = cluster();
  const leader = await c.leader();
  follower = c.managers().find((m) => m !== leader)!;
  host = `unix:${follower.controlSocket}`;
  const spec = ServiceSpec.fromPartial({
    annotations: { name: 'web', labels: {} },
    task: {
      container: { image: 'docker.io/library/hollow:1', env: ['SHOAL_HOLLOW_LOG_EVERY_MS=300'] },
      placement: { constraints: ['node.role==worker'] },
    },
    mode: { $case: 'replicated', replicated: { replicas: 4 } },
  });
  serviceId = (await c.api.createService({ spec })).service!.id;
  const { report } = await waitRunning(c.api, serviceId, 4, 60_000, 'web');
  t.is(Object.keys(report.byNode).length, 2, 'spread over both workers');
});

test.serial('service logs --tail 2: the last two lines of each task, prefixed with slot, task and node', async (t) => {
  // let every task write a few ticks first
  await new Promise((r) => setTimeout(r, 1_500));
  const r = await run(host, ['service', 'logs', '--tail', '2', 'web']);
  t.is(r.code, 0, r.stderr);
  const got = lines(r.stdout).map(parse);
  const bySlot = new Map<string, string[]>();
  for (const l of got) bySlot.set(l.slot, [...(bySlot.get(l.slot) ?? []), l.text]);
  t.deepEqual([...bySlot.keys()].sort(), ['1', '2', '3', '4']);
  for (const [slot, texts] of bySlot) {
    t.is(texts.length, 2, `slot ${slot}: ${texts.join(', ')}`);
    const [a, b] = texts.map((x) => Number(/^web\.\d+ tick (\d+)$/.exec(x)?.[1]));
    t.is(b, a! + 1, `slot ${slot}: consecutive ticks ${texts.join(', ')}`);
  }
  const hosts = new Set(got.map((l) => l.host));
  t.is(hosts.size, 2, 'lines from both workers, named by hostname');
});

test.serial('service logs --stderr -t: only standard error, with timestamps', async (t) => {
  const r = await run(host, ['service', 'logs', '--stderr', '-t', 'web']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, '');
  const got = lines(r.stderr).map(parse);
  t.deepEqual(got.map((l) => l.text).sort(), ['web.1 ready', 'web.2 ready', 'web.3 ready', 'web.4 ready']);
  for (const l of got) t.false(Number.isNaN(Date.parse(l.ts ?? '')), `timestamp ${l.ts}`);
});

test.serial("a task's logs: only that task", async (t) => {
  const c = cluster();
  const task = (await desiredRunning(c.api, serviceId)).find((x) => x.slot === 2)!;
  const r = await run(host, ['service', 'logs', '--stdout', '--raw', task.id]);
  t.is(r.code, 0, r.stderr);
  const out = lines(r.stdout);
  t.is(out[0], `web.2 started (task ${task.id})`);
  t.true(out.slice(1).every((l) => /^web\.2 tick \d+$/.test(l)), out.join('\n'));
});

test.serial('follow picks up a task that starts later (scale 4 → 5), then ends when the client stops', async (t) => {
  const c = cluster();
  const f = shoal(host, ['service', 'logs', '-f', '--tail', '0', '--raw', 'web']);
  await waitFor('tick lines while following', () => observed(lines(f.stdout()).some((l) => / tick \d+$/.test(l)), f.stderr()), 30_000);
  const svc = (await c.api.getService({ serviceId })).service!;
  const spec = ServiceSpec.fromPartial({ ...svc.spec, mode: { $case: 'replicated', replicated: { replicas: 5 } } });
  await c.api.updateService({ serviceId, serviceVersion: svc.meta!.version, spec });
  await waitFor('the new task\'s first line in the followed stream', () => observed(lines(f.stdout()).some((l) => /^web\.5 started \(task /.test(l)), lines(f.stdout()).slice(-5)), 60_000);
  const started = lines(f.stdout()).filter((l) => /^web\.\d+ started/.test(l));
  t.deepEqual(started.map((l) => l.split(' ')[0]), ['web.5'], 'only the new task shows its first lines (--tail 0 for the others)');
  t.is(f.child.exitCode, null, 'still following');
  f.child.kill('SIGINT');
  await f.exit;
  // back to 4 for the next test
  const now = (await c.api.getService({ serviceId })).service!;
  await c.api.updateService({ serviceId, serviceVersion: now.meta!.version, spec: ServiceSpec.fromPartial({ ...now.spec, mode: { $case: 'replicated', replicated: { replicas: 4 } } }) });
  await waitRunning(c.api, serviceId, 4, 60_000, 'web back to 4');
});

test.serial('follow; a worker SIGKILLed mid-follow ends the stream with a status naming it; logs work again once its tasks are replaced', async (t) => {
  const c = cluster();
  const f = shoal(host, ['service', 'logs', '-f', '--tail', '0', 'web']);
  let exited = false;
  void f.exit.then(() => (exited = true));
  await waitFor(
    'new tick lines from all four tasks while following',
    () => {
      if (exited) throw new Error(`the follow ended early: ${f.stderr()}`);
      const slots = new Set(lines(f.stdout()).map((l) => parse(l).slot));
      return observed(slots.size === 4, { slots: [...slots], stderr: f.stderr() });
    },
    30_000,
  );
  t.false(exited, 'still following');
  const victim = c.workers()[0]!;
  const victimId = victim.nodeId()!;
  await c.kill(victim, 'SIGKILL');
  const code = await Promise.race([f.exit, new Promise<'hang'>((r) => setTimeout(() => r('hang'), 30_000))]);
  t.is(code, 1, `the follow ended (stderr: ${f.stderr()})`);
  t.regex(f.stderr(), new RegExp(`incomplete logs: node ${victimId} \\(.+\\) stopped publishing`));

  // the dead node still holds RUNNING tasks in the store: logs say so at once rather than hang
  // (or, if it is already down and its tasks orphaned, simply succeed)
  const early = await run(host, ['service', 'logs', 'web']);
  t.true(early.code === 0 || new RegExp(`node ${victimId} .*(is not connected|stopped publishing)`).test(early.stderr), early.stderr);

  // once the node is down and its tasks are replaced on the other worker, logs are complete again
  await c.waitFor(
    'web: 4 RUNNING, none on the dead worker',
    async () => {
      const tasks = await desiredRunning(c.api, serviceId);
      const ok = tasks.length === 4 && tasks.every((x) => x.status?.state === TaskState.RUNNING && x.nodeId !== victimId);
      return observed(ok, tasks.map((x) => [x.slot, x.nodeId, TaskState[x.status?.state ?? 0]]));
    },
    60_000,
  );
  const after = await run(host, ['service', 'logs', '--tail', '1', 'web']);
  t.is(after.code, 0, after.stderr);
  const slots = new Set(lines(after.stdout).map((l) => parse(l).slot));
  for (const slot of ['1', '2', '3', '4']) t.true(slots.has(slot), `slot ${slot} in ${[...slots].join(',')}`);
  await c.restart(victim);
});
