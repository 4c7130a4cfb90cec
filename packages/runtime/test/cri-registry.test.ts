// Pull with registry credentials through CRI PullImage against a real containerd 1.6 and a local
// registry (Debian's docker-registry) with htpasswd basic auth on 127.0.0.1, both started here.
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CriRuntime, isRuntimeError } from '@shoal/runtime';
import { startContainerd, waitFor, type TestContainerd } from './helpers/containerd.js';

const run = promisify(execFile);
const NAME = 'rt-cri-registry';
const USER = 'shoal';
const PASS = 's3cret-pw';
let cd: TestContainerd;
let rt: CriRuntime;
let registry: ChildProcess | undefined;
let registryLog = '';
let dir = '';
let port = 0;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

test.before(async () => {
  for (const bin of ['docker-registry', 'htpasswd', 'skopeo']) {
    await run('sh', ['-c', `command -v ${bin}`]).catch(() => {
      throw new Error(`${bin} is not installed: run \`bash scripts/runtime/install.sh\` (as root) first`);
    });
  }
  cd = await startContainerd(NAME);
  rt = new CriRuntime({ endpoint: cd.socket, stateRoot: cd.stateRoot, cgroupRoot: cd.cgroupRoot, nodeId: 'node-r' });
  dir = await mkdtemp(join(tmpdir(), 'shoal-registry-'));
  port = await freePort();
  // bcrypt, as the registry's htpasswd auth requires.
  await run('htpasswd', ['-Bbc', join(dir, 'htpasswd'), USER, PASS]);
  await writeFile(join(dir, 'config.yml'), [
    'version: 0.1',
    'log: { level: warn }',
    `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} } }`,
    `http: { addr: 127.0.0.1:${port} }`,
    `auth: { htpasswd: { realm: shoal-test, path: ${join(dir, 'htpasswd')} } }`,
    '',
  ].join('\n'));
  registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (b: Buffer): void => { registryLog = (registryLog + b.toString()).slice(-4000); };
  registry.stdout!.on('data', keep);
  registry.stderr!.on('data', keep);
  await waitFor(`registry on 127.0.0.1:${port} to answer /v2/ with 401 (log: ${registryLog})`, async () => {
    const r = await fetch(`http://127.0.0.1:${port}/v2/`);
    return r.status === 401;
  }, 20_000);
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${USER}:${PASS}`,
    'oci-archive:/var/lib/shoal-test/images/oci/busybox-1.tar', `docker://127.0.0.1:${port}/shoal/busybox:1`], { timeout: 60_000 });
});

test.after.always(async () => {
  registry?.kill('SIGTERM');
  await rt?.close();
  await cd?.down();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial('pull from a registry with basic auth: refused without credentials (readable), pulled with them, then runs', async (t) => {
  const ref = `127.0.0.1:${port}/shoal/busybox:1`;
  t.false(await rt.imageExists(ref));

  const noAuth = await t.throwsAsync(rt.pullImage(ref));
  t.true(isRuntimeError(noAuth, 'Unauthenticated'), `${noAuth?.message}`);
  t.regex(noAuth!.message, new RegExp(`^pullImage: image "${ref.replace(/\./g, '\\.')}": .*401 Unauthorized`));
  t.log(noAuth!.message);

  const wrong = await t.throwsAsync(rt.pullImage(ref, { username: USER, password: 'wrong' }));
  t.true(isRuntimeError(wrong, 'Unauthenticated'), `${wrong?.message}`);
  t.false(await rt.imageExists(ref));

  const id = await rt.pullImage(ref, { username: USER, password: PASS, serverAddress: `127.0.0.1:${port}` });
  t.regex(id, /^sha256:[0-9a-f]{64}$/);
  t.true(await rt.imageExists(ref));
  // Docker's config.json form: auth = base64(user:password).
  t.is(await rt.pullImage(ref, { auth: Buffer.from(`${USER}:${PASS}`).toString('base64') }), id);

  const h = await rt.prepare({
    taskId: `reg${process.pid}`, serviceId: 's', serviceName: 'pulled', slot: 1, nodeId: 'node-r', image: ref,
    command: ['sh', '-c', 'echo from-registry; sleep 1000'], stopGraceMs: 1000,
  });
  await rt.start(h);
  t.is((await rt.exec(h, ['echo', 'ok'], 5000)).stdout, 'ok\n');
  await rt.stop(h, { graceMs: 0 });
  await rt.remove(h);
});
