import test from 'ava';
import { ShoalError } from '@shoal/api';
import { healthSpecOf } from '../src/health.js';
import { mapHosts, registryAuthOf, stopOptionsOf, toTaskContainerSpec } from '../src/spec.js';
import { makeTask } from './helpers/tasks.js';

const full = makeTask(
  't1',
  { spec: undefined },
  {},
);

test('identity fields come from the task', (t) => {
  const s = toTaskContainerSpec(makeTask('t1', { nodeId: '' }), 'node-9');
  t.deepEqual(s, { taskId: 't1', serviceId: 'svc1', serviceName: 'web', slot: 1, nodeId: 'node-9', image: 'busybox:1' });
});

test('every ContainerSpec field maps to the runtime spec', (t) => {
  const task = makeTask(
    't1',
    {
      spec: {
        container: {
          image: 'nginx:1.27',
          labels: { app: 'web', 'io.shoal.task.id': 'forged' },
          command: ['/entry'],
          args: ['-g', 'daemon off;'],
          hostname: 'web-1',
          env: ['A=1', 'B'],
          dir: '/srv',
          user: '1000:1000',
          groups: ['10', '20'],
          mounts: [
            { type: 'BIND', source: '/host', target: '/data', readOnly: true },
            { type: 'VOLUME', source: 'vol1', target: '/var/lib' },
            { type: 'VOLUME', target: '/anon' },
            { type: 'TMPFS', target: '/tmp', tmpfsSizeBytes: 1048576 },
          ],
          stopSignal: 'SIGQUIT',
          stopGracePeriod: { seconds: 7, nanos: 500_000_000 },
          readOnly: true,
          init: false,
          sysctls: { 'net.core.somaxconn': '1024' },
          capabilityAdd: ['NET_ADMIN'],
          capabilityDrop: ['MKNOD'],
          ulimits: [{ name: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }],
          tty: true,
          openStdin: true,
          hosts: ['10.0.0.1 db db.local'],
          dnsConfig: { nameservers: ['1.1.1.1'], search: ['svc.local'], options: ['ndots:2'] },
        },
        resources: { limits: { nanoCpus: 500_000_000, memoryBytes: 67108864, pids: 100 } },
      },
    },
  );
  t.deepEqual(toTaskContainerSpec(task, 'node-1'), {
    taskId: 't1',
    serviceId: 'svc1',
    serviceName: 'web',
    slot: 1,
    nodeId: 'node-1',
    image: 'nginx:1.27',
    command: ['/entry'],
    args: ['-g', 'daemon off;'],
    env: ['A=1', 'B'],
    dir: '/srv',
    user: '1000:1000',
    groups: ['10', '20'],
    hostname: 'web-1',
    labels: { app: 'web' },
    mounts: [
      { type: 'bind', source: '/host', target: '/data', readOnly: true },
      { type: 'volume', name: 'vol1', target: '/var/lib' },
      { type: 'volume', name: 'anon-t1-2', target: '/anon' },
      { type: 'tmpfs', target: '/tmp', sizeBytes: 1048576 },
    ],
    stopSignal: 'SIGQUIT',
    stopGraceMs: 7500,
    readOnly: true,
    init: false,
    sysctls: { 'net.core.somaxconn': '1024' },
    capAdd: ['NET_ADMIN'],
    capDrop: ['MKNOD'],
    ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }],
    tty: true,
    stdin: true,
    resources: { nanoCpus: 500_000_000, memoryBytes: 67108864, pids: 100 },
    dns: { servers: ['1.1.1.1'], searches: ['svc.local'], options: ['ndots:2'] },
    extraHosts: ['10.0.0.1 db', '10.0.0.1 db.local'],
  });
  t.deepEqual(stopOptionsOf(task), { signal: 'SIGQUIT', graceMs: 7500 });
});

test('unset optional fields stay unset (runtime defaults apply)', (t) => {
  const s = toTaskContainerSpec(makeTask('t1', {}, { init: undefined }), 'n');
  t.false('init' in s);
  t.false('stopGraceMs' in s);
  t.false('resources' in s);
  t.deepEqual(stopOptionsOf(makeTask('t1')), {});
});

test('invalid specs fail with InvalidArgument naming the field', (t) => {
  const e1 = t.throws(() => toTaskContainerSpec(full, 'n'), { instanceOf: ShoalError });
  t.is(e1?.field, 'spec.container');
  const e2 = t.throws(() => toTaskContainerSpec(makeTask('t1', {}, { image: '' }), 'n'), { instanceOf: ShoalError });
  t.is(e2?.field, 'spec.container.image');
  const e3 = t.throws(() => toTaskContainerSpec(makeTask('t1', {}, { mounts: [{ type: 'TMPFS', target: '' }] }), 'n'), { instanceOf: ShoalError });
  t.is(e3?.field, 'spec.container.mounts[0].target');
  t.throws(() => mapHosts(['10.0.0.1']), { message: /IP HOSTNAME/ });
});

test('registry_auth decodes the Docker X-Registry-Auth (base64url or base64 JSON, any key case)', (t) => {
  const c = (registryAuth: string) => makeTask('t1', {}, { registryAuth }).spec!.container!;
  t.is(registryAuthOf(c('')), undefined);
  const json = JSON.stringify({ Username: 'u', Password: 'p?>', ServerAddress: 'https://r.example', email: 'x@y' });
  const want = { username: 'u', password: 'p?>', serverAddress: 'https://r.example' };
  t.deepEqual(registryAuthOf(c(Buffer.from(json).toString('base64url'))), want);
  t.deepEqual(registryAuthOf(c(Buffer.from(json).toString('base64'))), want);
  t.deepEqual(registryAuthOf(c(Buffer.from('{"auth":"dTpw","identitytoken":"tok"}').toString('base64'))), { auth: 'dTpw', identityToken: 'tok' });
  const e = t.throws(() => registryAuthOf(c(Buffer.from('{"email":"x@y"}').toString('base64'))), { instanceOf: ShoalError });
  t.is(e?.field, 'spec.container.registryAuth');
  t.regex(e!.message, /no credentials/);
  t.throws(() => registryAuthOf(c('%%%')), { message: /not base64 JSON/ });
});

test('health config: CMD, CMD-SHELL, NONE and defaults', (t) => {
  const c = (hc: unknown) => makeTask('t', {}, { healthcheck: hc }).spec!.container;
  t.is(healthSpecOf(c(undefined)), undefined);
  t.is(healthSpecOf(c({ test: ['NONE'] })), undefined);
  t.deepEqual(healthSpecOf(c({ test: ['CMD', 'pg_isready', '-q'] })), { cmd: ['pg_isready', '-q'], intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 });
  t.deepEqual(healthSpecOf(c({ test: ['CMD-SHELL', 'curl -f localhost || exit 1'], interval: { seconds: 5 }, timeout: { seconds: 1 }, retries: 4, startPeriod: { seconds: 20 } })), {
    cmd: ['/bin/sh', '-c', 'curl -f localhost || exit 1'],
    intervalMs: 5000,
    timeoutMs: 1000,
    retries: 4,
    startPeriodMs: 20_000,
  });
  t.throws(() => healthSpecOf(c({ test: ['BOGUS'] })), { message: /NONE, CMD or CMD-SHELL/ });
});
