// `shoal stack …` end to end: a real cluster of separate shoald processes (3 managers + 2 workers,
// hollow runtime) driven only through the CLI, spawned as a user would run it.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskState } from '@shoal/api';
import { freePort, observed, startCluster, waitFor, type Cluster } from '@shoal/testkit';
import { shoal, show, type CliResult } from './_shoal-cli.js';

let cluster: Cluster | undefined;
let host = '';
const dir = mkdtempSync(join(tmpdir(), 'shoal-e2e-stack-'));

test.before(async () => {
  cluster = await startCluster({ managers: 3, workers: 2, runtime: 'hollow', heartbeatPeriod: '1s' });
  // the CLI talks to a follower's local control socket, as on a manager host
  const leader = await cluster.leader();
  host = `unix:${cluster.managers().find((m) => m !== leader)!.controlSocket}`;
});
test.afterEach.always((t) => {
  if (!t.passed && cluster) t.log(cluster.failureReport(15));
});
test.after.always(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface StackOpts {
  withCache: boolean;
  webMode?: 'replicated' | 'global';
}

/** The Compose file of the test stack: web (front+back, config, depends on db and cache), db (secret), cache. */
function composeFile(name: string, o: StackOpts): string {
  const cache = `
  cache:
    image: shoal-test/busybox:1
    command: ["sh", "-c", "while true; do echo +PONG | nc -l -p 6379; done"]
    networks:
      back:
        aliases: [redis]
    secrets: [cache_token]
    deploy:
      replicas: 1
`;
  const text = `version: "3.8"
services:
  web:
    image: shoal-test/busybox:\${WEB_TAG:-1}
    command: ["httpd", "-f", "-p", "8080"]
    ports: ["\${WEB_PORT:-18080}:8080"]
    networks: [front, back]
    configs:
      - source: site
        target: /etc/site.conf
    depends_on:
      db:
        condition: service_started${o.withCache ? '\n      cache:\n        condition: service_started' : ''}
    deploy:
      mode: ${o.webMode ?? 'replicated'}
      ${o.webMode === 'global' ? '' : 'replicas: 2'}
      update_config:
        parallelism: 1
        delay: 1s
        monitor: 1s
        order: start-first
  db:
    image: shoal-test/busybox:1
    command: ["sh", "-c", "sleep 1000000"]
    environment:
      PASSWORD_FILE: /run/secrets/db_password
    networks: [back]
    secrets: [db_password]
    deploy:
      replicas: 1
      update_config:
        parallelism: 1
${o.withCache ? cache : ''}
networks:
  front: {}
  back: {}
secrets:
  db_password:
    file: ./db_password.txt
${o.withCache ? '  cache_token:\n    file: ./cache_token.txt\n' : ''}configs:
  site:
    file: ./site.conf
`;
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
writeFileSync(join(dir, 'db_password.txt'), 's3cret\n');
writeFileSync(join(dir, 'cache_token.txt'), 'tok\n');
writeFileSync(join(dir, 'site.conf'), 'listen 8080\n');

const cli = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => shoal(["--host", host, ...args], { env });

async function ok(t: { fail(m: string): void }, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await cli(args, env);
  if (r.code !== 0) t.fail(show(args, r));
  return r;
}

async function okJson<T = Record<string, unknown>>(t: { fail(m: string): void }, args: string[]): Promise<T[]> {
  const r = await ok(t, [...args, '--format', 'json']);
  return JSON.parse(r.stdout) as T[];
}

type ServiceJson = { id: string; meta: { version: number }; spec: { annotations: { name: string; labels: Record<string, string> }; task: { container: { image: string } } }; updateStatus?: { state?: string } };
type TaskJson = { id: string; serviceId: string; desiredState: string; status: { state: string; timestamp?: string }; spec: { container: { image: string } }; meta: { createdAt?: string } };
type NamedJson = { id: string; spec: { annotations: { name: string; labels: Record<string, string> } } };

const names = (xs: Array<{ spec: { annotations: { name: string } } }>): string[] => xs.map((x) => x.spec.annotations.name).sort();
const running = (ts: TaskJson[]): TaskJson[] => ts.filter((x) => x.desiredState === 'RUNNING' && x.status.state === 'RUNNING');

/** Wait until every service of the stack runs exactly its desired tasks, all with the wanted images. */
async function waitStack(t: { fail(m: string): void }, want: Record<string, { n: number; image?: string }>): Promise<void> {
  await waitFor(`stack e2e converges to ${JSON.stringify(want)}`, async () => {
    const svcs = await okJson<ServiceJson>(t, ['stack', 'services', 'e2e']);
    const tasks = await okJson<TaskJson>(t, ['stack', 'ps', 'e2e']);
    const seen: Record<string, string> = {};
    let good = names(svcs).join() === Object.keys(want).sort().join();
    for (const s of svcs) {
      const name = s.spec.annotations.name;
      const mine = running(tasks.filter((x) => x.serviceId === s.id));
      const desired = tasks.filter((x) => x.serviceId === s.id && x.desiredState === 'RUNNING');
      seen[name] = `${mine.length}/${desired.length} ${[...new Set(mine.map((x) => x.spec.container.image))].join(',')} ${s.updateStatus?.state ?? ''}`;
      const w = want[name];
      if (!w || mine.length !== w.n || desired.length !== w.n) good = false;
      if (w?.image && mine.some((x) => x.spec.container.image !== w.image)) good = false;
    }
    return observed(good, seen);
  }, 90_000, { intervalMs: 1000 });
}

test.serial('stack deploy creates networks, secrets, configs and services in depends_on order and waits for convergence', async (t) => {
  const file = composeFile('stack.yml', { withCache: true });
  const r = await ok(t, ['stack', 'deploy', '-c', file, 'e2e']);
  const out = r.stdout;
  for (const line of ['Creating network e2e_front', 'Creating network e2e_back', 'Creating secret e2e_db_password', 'Creating secret e2e_cache_token', 'Creating config e2e_site', 'Creating service e2e_db', 'Creating service e2e_cache', 'Creating service e2e_web']) {
    t.true(out.includes(`${line}\n`), `"${line}" in:\n${out}`);
  }
  // not a TTY: plain progress lines, one per change, ending converged
  t.regex(out, /^e2e_web: 2\/2 converged$/m);
  t.regex(out, /^e2e_db: 1\/1 converged$/m);
  t.regex(out, /^e2e_cache: 1\/1 converged$/m);
  t.false(out.includes('\x1b['), 'no terminal control sequences when stdout is not a TTY');
  // depends_on: web is created only once db and cache run
  const webAt = out.indexOf('Creating service e2e_web');
  t.true(out.indexOf('e2e_db: 1/1 converged') < webAt && out.indexOf('e2e_cache: 1/1 converged') < webAt, out);
  const svcs = await okJson<ServiceJson>(t, ['stack', 'services', 'e2e']);
  const tasks = await okJson<TaskJson>(t, ['stack', 'ps', 'e2e']);
  const web = svcs.find((s) => s.spec.annotations.name === 'e2e_web')!;
  const firstWebTask = Math.min(...tasks.filter((x) => x.serviceId === web.id).map((x) => Date.parse(x.meta.createdAt!)));
  for (const dep of ['e2e_db', 'e2e_cache']) {
    const s = svcs.find((x) => x.spec.annotations.name === dep)!;
    const runningSince = Math.min(...running(tasks.filter((x) => x.serviceId === s.id)).map((x) => Date.parse(x.status.timestamp!)));
    t.true(runningSince <= firstWebTask, `${dep} ran (${new Date(runningSince).toISOString()}) before web's first task (${new Date(firstWebTask).toISOString()})`);
  }
});

test.serial('stack ls and stack services: tables, -q and --format json', async (t) => {
  const ls = await ok(t, ['stack', 'ls']);
  t.regex(ls.stdout, /^NAME\s+SERVICES$/m);
  t.regex(ls.stdout, /^e2e\s+3$/m);

  const services = await ok(t, ['stack', 'services', 'e2e']);
  t.regex(services.stdout, /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$/m);
  t.regex(services.stdout, /^\w+\s+e2e_web\s+replicated\s+2\/2\s+shoal-test\/busybox:1\s+\*:18080->8080\/tcp$/m);
  t.regex(services.stdout, /^\w+\s+e2e_db\s+replicated\s+1\/1\s+shoal-test\/busybox:1\s*$/m);
  t.regex(services.stdout, /^\w+\s+e2e_cache\s+replicated\s+1\/1\s+shoal-test\/busybox:1\s*$/m);
  const quiet = await ok(t, ['stack', 'services', '-q', 'e2e']);
  t.is(quiet.stdout.trim().split('\n').length, 3);

  const svcs = await okJson<ServiceJson>(t, ['stack', 'services', 'e2e']);
  t.deepEqual(names(svcs), ['e2e_cache', 'e2e_db', 'e2e_web']);
  for (const s of svcs) t.is(s.spec.annotations.labels['com.docker.stack.namespace'], 'e2e');
});

test.serial('stack ps and service ps: tables and --format json', async (t) => {
  const ps = await ok(t, ['stack', 'ps', 'e2e']);
  t.regex(ps.stdout, /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR$/m);
  t.is(ps.stdout.match(/\sRunning\s+Running/g)?.length, 4, ps.stdout);
  t.is(running(await okJson<TaskJson>(t, ['stack', 'ps', 'e2e'])).length, 4);

  const sps = await ok(t, ['service', 'ps', 'e2e_web']);
  t.regex(sps.stdout, /^\w+\s+e2e_web\.1\s+shoal-test\/busybox:1\s+\S+\s+Running\s+Running/m);
  t.regex(sps.stdout, /^\w+\s+e2e_web\.2\s+shoal-test\/busybox:1\s+\S+\s+Running\s+Running/m);
  t.is(running(await okJson<TaskJson>(t, ['service', 'ps', 'e2e_web'])).length, 2);
});

test.serial("network, secret and config ls show the stack's objects; SHOAL_HOST is honoured", async (t) => {
  t.deepEqual(names(await okJson<NamedJson>(t, ['network', 'ls', '--filter', 'label=com.docker.stack.namespace=e2e'])), ['e2e_back', 'e2e_front']);
  t.deepEqual(names(await okJson<NamedJson>(t, ['secret', 'ls', '--filter', 'label=com.docker.stack.namespace=e2e'])), ['e2e_cache_token', 'e2e_db_password']);
  t.deepEqual(names(await okJson<NamedJson>(t, ['config', 'ls', '--filter', 'label=com.docker.stack.namespace=e2e'])), ['e2e_site']);

  // SHOAL_HOST is honoured when --host is not given
  const env = await shoal(['stack', 'ls', '--format', 'json'], { env: { SHOAL_HOST: host } });
  t.is(env.code, 0, show(['stack', 'ls'], env));
  t.deepEqual(JSON.parse(env.stdout), [{ name: 'e2e', services: 3 }]);
});

test.serial('a redeploy with a changed image tag rolls only that service; the others keep their version and tasks', async (t) => {
  const before = await okJson<ServiceJson>(t, ['stack', 'services', 'e2e']);
  const tasksBefore = await okJson<TaskJson>(t, ['stack', 'ps', 'e2e']);
  const file = composeFile('stack.yml', { withCache: true });
  const r = await ok(t, ['stack', 'deploy', '-c', file, 'e2e'], { WEB_TAG: '2' });
  t.regex(r.stdout, /^Updating service e2e_web \(id: \w+\)$/m);
  t.regex(r.stdout, /^Service e2e_db is up to date$/m);
  t.regex(r.stdout, /^Service e2e_cache is up to date$/m);
  t.regex(r.stdout, /^e2e_web: 2\/2 converged/m);
  // db and cache only appear as web's dependencies, already converged: they are not restarted
  t.false(/^e2e_(db|cache): .*(starting|running)$/m.test(r.stdout), r.stdout);

  await waitStack(t, { e2e_web: { n: 2, image: 'shoal-test/busybox:2' }, e2e_db: { n: 1 }, e2e_cache: { n: 1 } });
  const after = await okJson<ServiceJson>(t, ['stack', 'services', 'e2e']);
  const tasksAfter = await okJson<TaskJson>(t, ['stack', 'ps', 'e2e', '--all']);
  for (const name of ['e2e_db', 'e2e_cache']) {
    const b = before.find((s) => s.spec.annotations.name === name)!;
    const a = after.find((s) => s.spec.annotations.name === name)!;
    t.is(a.meta.version, b.meta.version, `${name}: service not written`);
    const ids = (ts: TaskJson[]): string[] => running(ts.filter((x) => x.serviceId === a.id)).map((x) => x.id).sort();
    t.deepEqual(ids(tasksAfter), ids(tasksBefore), `${name}: same tasks still running`);
  }
  // web: a rolling update that completed; the old tasks were replaced one by one
  const web = after.find((s) => s.spec.annotations.name === 'e2e_web')!;
  const [inspected] = JSON.parse((await ok(t, ['service', 'inspect', 'e2e_web'])).stdout) as Array<ServiceJson & { previousSpec?: ServiceJson['spec'] }>;
  t.is(inspected!.updateStatus?.state, 'COMPLETED');
  t.is(inspected!.previousSpec?.task.container.image, 'shoal-test/busybox:1');
  const webTasks = tasksAfter.filter((x) => x.serviceId === web.id);
  const old = webTasks.filter((x) => x.spec.container.image === 'shoal-test/busybox:1');
  t.is(old.length, 2, 'both old web tasks are kept in history');
  t.true(old.every((x) => x.desiredState !== 'RUNNING'), 'old web tasks are shut down');
  const newStarts = webTasks.filter((x) => x.spec.container.image === 'shoal-test/busybox:2').map((x) => Date.parse(x.meta.createdAt!)).sort();
  t.true(newStarts[1]! - newStarts[0]! >= 1000, `parallelism 1, delay 1s: the second new task was created at least 1 s after the first (${newStarts.join(', ')})`);
});

test.serial('errors: an unreachable manager and an unknown service give one line and exit 1', async (t) => {
  const port = await freePort();
  const one = (r: CliResult): void => {
    t.not(r.code, 0, r.stderr);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, /^shoal: error: /);
  };
  const down = await shoal(['--host', `127.0.0.1:${port}`, 'stack', 'ls']);
  one(down);
  t.is(down.code, 1);
  t.regex(down.stderr, new RegExp(`cannot reach the manager at 127\\.0\\.0\\.1:${port} \\(connection refused\\)`));
  const noSock = await shoal(['--host', `unix:${join(dir, 'nope.sock')}`, 'service', 'ls']);
  one(noSock);
  t.regex(noSock.stderr, /cannot reach the manager at unix:.*nope\.sock/);

  const unknown = await cli(['service', 'ps', 'e2e_nope']);
  one(unknown);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /service "e2e_nope" not found/);
  const unknownRm = await cli(['service', 'rm', 'e2e_nope']);
  one(unknownRm);
  t.regex(unknownRm.stderr, /not found/);
});

test.serial('conflicting changes: a taken name, a taken port, a service mode change give one line and exit 1', async (t) => {
  const one = (r: CliResult): void => {
    t.is(r.code, 1, r.stderr);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, /^shoal: error: /);
  };
  // a name taken by the stack
  const taken = await cli(['service', 'create', '--name', 'e2e_db', '-d', 'shoal-test/busybox:1']);
  one(taken);
  t.regex(taken.stderr, /service "e2e_db" already exists/);
  // a second stack publishing the same ingress port
  const other = composeFile('other.yml', { withCache: false });
  const clash = await cli(['stack', 'deploy', '-c', other, 'e2e2']);
  t.not(clash.code, 0);
  t.regex(clash.stderr, /^shoal: error: .*port 18080 is already in use by service "e2e_web"/m);
  t.is(clash.stderr.trim().split('\n').length, 1, clash.stderr);
  await ok(t, ['stack', 'rm', 'e2e2']);
  // a redeploy that changes web's mode is refused; nothing changes
  const mode = await cli(['stack', 'deploy', '-c', composeFile('global.yml', { withCache: true, webMode: 'global' }), 'e2e'], { WEB_TAG: '2' });
  one(mode);
  t.regex(mode.stderr, /changing the service mode/);
  await waitStack(t, { e2e_web: { n: 2, image: 'shoal-test/busybox:2' }, e2e_db: { n: 1 }, e2e_cache: { n: 1 } });
});

test.serial('--prune removes a service dropped from the file and the secret only it used; --detach returns without waiting', async (t) => {
  const file = composeFile('stack.yml', { withCache: false });
  const r = await ok(t, ['stack', 'deploy', '--prune', '--detach', '-c', file, 'e2e'], { WEB_TAG: '2' });
  t.regex(r.stdout, /^Removing service e2e_cache$/m);
  t.regex(r.stdout, /^Removing secret e2e_cache_token$/m);
  t.regex(r.stdout, /^Service e2e_web is up to date$/m);
  t.false(/converged/.test(r.stdout), `--detach prints no progress:\n${r.stdout}`);
  await waitStack(t, { e2e_web: { n: 2, image: 'shoal-test/busybox:2' }, e2e_db: { n: 1 } });
  t.deepEqual(names(await okJson<NamedJson>(t, ['secret', 'ls', '--filter', 'label=com.docker.stack.namespace=e2e'])), ['e2e_db_password']);
  t.deepEqual(names(await okJson<NamedJson>(t, ['network', 'ls', '--filter', 'label=com.docker.stack.namespace=e2e'])), ['e2e_back', 'e2e_front']);
});

test.serial('stack rm removes services, networks, secrets and configs', async (t) => {
  const r = await ok(t, ['stack', 'rm', 'e2e']);
  for (const line of ['Removing service e2e_web', 'Removing service e2e_db', 'Removing secret e2e_db_password', 'Removing config e2e_site', 'Removing network e2e_front', 'Removing network e2e_back']) {
    t.true(r.stdout.includes(`${line}\n`), `"${line}" in:\n${r.stdout}`);
  }
  const label = ['--filter', 'label=com.docker.stack.namespace=e2e'];
  t.deepEqual(await okJson(t, ['service', 'ls', ...label]), []);
  t.deepEqual(await okJson(t, ['network', 'ls', ...label]), []);
  t.deepEqual(await okJson(t, ['secret', 'ls', ...label]), []);
  t.deepEqual(await okJson(t, ['config', 'ls', ...label]), []);
  t.deepEqual(await okJson(t, ['stack', 'ls']), []);
  const gone = await cli(['stack', 'services', 'e2e']);
  t.is(gone.code, 0);
  t.regex(gone.stderr, /Nothing found in stack: e2e/);
  // the tasks go away too
  const left = await waitFor('no task of stack e2e is still desired running', async () => {
    const tasks = (await cluster!.api.listTasks({})).tasks.filter((x) => x.desiredState === TaskState.RUNNING);
    return observed(tasks.length === 0, tasks.map((x) => x.id), tasks.length);
  }, 60_000);
  t.is(left, 0);
});
