// Secret and config files: where they land in the container, their modes, errors, clean-up.
import { readFile, stat, readdir, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { ShoalError, type Config, type Secret } from '@shoal/api';
import { TaskFiles, targetPath } from '../src/files.js';
import { silentLogger } from '../src/log.js';
import { tempDir } from './helpers/agent.js';
import { makeTask } from './helpers/tasks.js';

const secret = (id: string, name: string, data: string): Secret => ({ id, spec: { annotations: { name, labels: {} }, data: Buffer.from(data), driver: undefined }, internal: false });
const config = (id: string, name: string, data: string): Config => ({ id, spec: { annotations: { name, labels: {} }, data: Buffer.from(data) } });

function files(dir: string, secrets: Secret[] = [], configs: Config[] = []): TaskFiles {
  return new TaskFiles({
    dir,
    secret: (id) => secrets.find((s) => s.id === id),
    config: (id) => configs.find((c) => c.id === id),
    logger: silentLogger,
  });
}

test('targets: secrets under /run/secrets, configs under /, absolute paths kept, ".." refused', (t) => {
  t.is(targetPath('secret', 'db_pw', 'f'), '/run/secrets/db_pw');
  t.is(targetPath('secret', '/etc/ssl/key.pem', 'f'), '/etc/ssl/key.pem');
  t.is(targetPath('config', 'app.conf', 'f'), '/app.conf');
  t.is(targetPath('config', '/etc/nginx/nginx.conf', 'f'), '/etc/nginx/nginx.conf');
  t.throws(() => targetPath('secret', '../etc/passwd', 'f'), { message: /not a valid file path/ });
  t.throws(() => targetPath('config', '/', 'f'), { message: /not a valid file path/ });
});

test('files are written with their mode and mounted read-only; released with the task; pruned after a restart', async (t) => {
  const dir = join(tempDir(), 'task-files');
  const f = files(dir, [secret('s1', 'db_pw', 'hunter2')], [config('c1', 'app', 'port=80\n')]);
  const task = makeTask('t1', {}, {
    secrets: [{ secretId: 's1', secretName: 'db_pw', file: { name: '', uid: '', gid: '', mode: 0o400 } }],
    configs: [{ configId: 'c1', configName: 'app', file: { name: '/etc/app.conf', uid: '', gid: '', mode: 0 } }],
  });
  const mounts = await f.mounts(task);
  t.deepEqual(mounts, [
    { type: 'bind', source: join(dir, 't1', 'secret-0'), target: '/run/secrets/db_pw', readOnly: true },
    { type: 'bind', source: join(dir, 't1', 'config-1'), target: '/etc/app.conf', readOnly: true },
  ]);
  t.is(await readFile(mounts[0]!.source, 'utf8'), 'hunter2');
  t.is((await stat(mounts[0]!.source)).mode & 0o777, 0o400);
  t.is(await readFile(mounts[1]!.source, 'utf8'), 'port=80\n');
  t.is((await stat(mounts[1]!.source)).mode & 0o777, 0o444, 'default mode 0444');
  t.is((await stat(dir)).mode & 0o777, 0o700, 'the directory is private');
  t.is((await stat(join(dir, 't1'))).mode & 0o777, 0o700);
  t.deepEqual(await f.mounts(makeTask('t2')), [], 'a task without references needs no files');
  await f.release('t1');
  t.deepEqual(await readdir(dir), []);
  await mkdir(join(dir, 'old'), { recursive: true });
  await mkdir(join(dir, 'kept'), { recursive: true });
  await f.prune(new Set(['kept']));
  t.deepEqual(await readdir(dir), ['kept']);
});

test('a reference not yet on the node is retryable; bad uid or target is InvalidArgument', async (t) => {
  const dir = join(tempDir(), 'task-files');
  const f = files(dir, [secret('s1', 'pw', 'x')]);
  const missing = makeTask('t1', {}, { secrets: [{ secretId: 'nope', secretName: 'other', file: { name: 'other', uid: '', gid: '', mode: 0 } }] });
  const e1 = await t.throwsAsync(f.mounts(missing));
  t.true(e1 instanceof ShoalError && e1.retryable, e1?.message);
  t.regex(e1!.message, /secret other has not reached this node yet/);
  const badUid = makeTask('t2', {}, { secrets: [{ secretId: 's1', secretName: 'pw', file: { name: 'pw', uid: 'root', gid: '', mode: 0 } }] });
  await t.throwsAsync(f.mounts(badUid), { message: /uid must be numeric/ });
  const badTarget = makeTask('t3', {}, { secrets: [{ secretId: 's1', secretName: 'pw', file: { name: '../../x', uid: '', gid: '', mode: 0 } }] });
  const e3 = await t.throwsAsync(f.mounts(badTarget));
  t.is((e3 as ShoalError).code, 'InvalidArgument');
});
