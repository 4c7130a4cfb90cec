// The web+db+cache+worker stack, checked field by field against hand-written expectations.
import test from 'ava';
import {
  MountType, PortProtocol, PublishMode, ResolutionMode, RestartCondition, UpdateFailureAction, UpdateOrder,
} from '@shoal/api';
import { sec, stack, svc, valid } from './helpers.js';

const dir = valid('webstack');
const s = stack([valid('webstack', 'docker-compose.yml')], { HOME: '/home/u' });
const NS = 'com.docker.stack.namespace';

test('start order follows depends_on', (t) => {
  t.deepEqual(s.order, ['app_cache', 'app_db', 'app_web', 'app_worker']);
  t.deepEqual(s.services.map((x) => x.annotations?.name), ['app_cache', 'app_db', 'app_web', 'app_worker']);
});

test('warnings: unsupported options in docker wording', (t) => {
  t.deepEqual(s.warnings, ['Ignoring unsupported options: restart, shm_size']);
});

test('web: names, labels, image from .env interpolation', (t) => {
  const w = svc(s, 'app_web');
  t.deepEqual(w.annotations, {
    name: 'app_web',
    labels: { 'com.example.team': 'web', [NS]: 'app', 'com.docker.stack.image': 'registry.example.com/web:1.4.2' },
  });
  const c = w.task!.container!;
  t.is(c.image, 'registry.example.com/web:1.4.2');
  t.deepEqual(c.labels, { 'com.example.tier': 'frontend', [NS]: 'app' });
  t.deepEqual(c.command, []);
  t.deepEqual(c.args, ['httpd', '-f', '-p', '8080']);
  // env_file first, environment wins; $$ is a literal $
  t.deepEqual(c.env, ['DB_HOST=db', 'LOG_LEVEL=info', 'MODE=production', 'PRICE=$5']);
  t.deepEqual(w.mode, { $case: 'replicated', replicated: { replicas: 3 } });
});

test('web: mounts (relative bind, named volume, tmpfs long syntax)', (t) => {
  const m = svc(s, 'app_web').task!.container!.mounts;
  t.is(m.length, 3);
  t.like(m[0], { type: MountType.BIND, source: `${dir}/static`, target: '/srv/static', readOnly: true });
  t.like(m[1], { type: MountType.VOLUME, source: 'app_uploads', target: '/srv/uploads', readOnly: false, volumeLabels: { [NS]: 'app' } });
  t.is(m[1]!.volumeDriver, undefined);
  t.like(m[2], { type: MountType.TMPFS, source: '', target: '/tmp', tmpfsSizeBytes: 64 * 1024 * 1024 });
});

test('web: secrets and configs (long syntax, octal mode)', (t) => {
  const c = svc(s, 'app_web').task!.container!;
  t.deepEqual(c.secrets, [{ secretId: '', secretName: 'app_db_password', file: { name: '/run/secrets/db_pw', uid: '100', gid: '101', mode: 0o440 } }]);
  t.deepEqual(c.configs, [{ configId: '', configName: 'app_web_conf', file: { name: '/etc/web/web.conf', uid: '0', gid: '0', mode: 0o444 } }]);
});

test('web: healthcheck, stop grace period, logging from a YAML anchor', (t) => {
  const w = svc(s, 'app_web');
  t.deepEqual(w.task!.container!.healthcheck, {
    test: ['CMD', 'wget', '-qO-', 'http://localhost:8080/health'], interval: sec(30), timeout: sec(5), retries: 3, startPeriod: sec(90),
  });
  t.deepEqual(w.task!.container!.stopGracePeriod, sec(20));
  t.deepEqual(w.task!.logDriver, { name: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } });
});

test('web: ports (short ingress, long host mode)', (t) => {
  t.deepEqual(svc(s, 'app_web').endpoint, {
    mode: ResolutionMode.VIP,
    ports: [
      { name: '', protocol: PortProtocol.TCP, targetPort: 8080, publishedPort: 80, publishMode: PublishMode.INGRESS },
      { name: '', protocol: PortProtocol.TCP, targetPort: 8443, publishedPort: 443, publishMode: PublishMode.HOST },
    ],
  });
});

test('web: networks with aliases plus the service name, sorted by target', (t) => {
  t.deepEqual(svc(s, 'app_web').task!.networks, [
    { target: 'app_backend', aliases: ['web'], addresses: [] },
    { target: 'app_frontend', aliases: ['www', 'site', 'web'], addresses: [] },
  ]);
});

test('web: update and rollback config with x-shoal canary', (t) => {
  const w = svc(s, 'app_web');
  t.deepEqual(w.update, {
    parallelism: 2, delay: sec(10), failureAction: UpdateFailureAction.ROLLBACK_ON_FAILURE, monitor: sec(30), maxFailureRatio: 0.25,
    order: UpdateOrder.START_FIRST, canary: { enabled: true, autoPromoteAfter: sec(120) },
  });
  t.deepEqual(w.rollback, {
    parallelism: 0, delay: undefined, failureAction: UpdateFailureAction.PAUSE_ON_FAILURE, monitor: undefined, maxFailureRatio: 0,
    order: UpdateOrder.STOP_FIRST, canary: undefined,
  });
});

test('web: resources, restart policy, placement', (t) => {
  const task = svc(s, 'app_web').task!;
  t.deepEqual(task.resources, {
    limits: { nanoCpus: 500_000_000, memoryBytes: 512 * 1024 ** 2, pids: 200 },
    reservations: { nanoCpus: 250_000_000, memoryBytes: 128 * 1024 ** 2, pids: 0 },
  });
  t.deepEqual(task.restart, { condition: RestartCondition.RESTART_ON_FAILURE, delay: sec(5), maxAttempts: 3, window: sec(120) });
  t.deepEqual(task.placement, {
    constraints: ['node.role == worker', 'node.labels.zone != c'], preferences: [{ spreadDescriptor: 'node.labels.zone' }], maxReplicas: 2, platforms: [],
  });
});

test('db: map environment, named volume with driver and nocopy, dnsrr, shell-form healthcheck', (t) => {
  const d = svc(s, 'app_db');
  const c = d.task!.container!;
  t.deepEqual(c.env, ['PGPORT=5432', 'POSTGRES_DB=app', 'POSTGRES_PASSWORD_FILE=/run/secrets/db_password']);
  t.deepEqual(c.mounts, [{
    type: MountType.VOLUME, source: 'app_dbdata', target: '/var/lib/postgresql/data', readOnly: false, propagation: '', volumeNoCopy: true,
    volumeLabels: { 'com.example.backup': 'daily', [NS]: 'app' }, volumeDriver: { name: 'local', options: {} }, tmpfsSizeBytes: 0, tmpfsMode: 0,
  }]);
  t.deepEqual(c.secrets, [{ secretId: '', secretName: 'app_db_password', file: { name: '/run/secrets/db_password', uid: '0', gid: '0', mode: 0o444 } }]);
  t.deepEqual(c.healthcheck, { test: ['CMD-SHELL', 'pg_isready -U postgres'], interval: sec(10), timeout: undefined, retries: 0, startPeriod: undefined });
  t.is(c.user, '999:999');
  t.is(c.stopSignal, 'SIGINT');
  t.deepEqual(d.endpoint, { mode: ResolutionMode.DNSRR, ports: [] });
  t.deepEqual(d.task!.networks, [{ target: 'app_backend', aliases: ['postgres', 'db'], addresses: [] }]);
  t.deepEqual(d.task!.placement?.constraints, ['node.labels.db == true']);
  t.is(d.task!.restart, undefined);
  t.is(d.update, undefined);
});

test('cache: global mode, sysctls, ulimits, caps, read_only, init, shell-split command', (t) => {
  const k = svc(s, 'app_cache');
  const c = k.task!.container!;
  t.deepEqual(k.mode, { $case: 'global', global: {} });
  t.deepEqual(c.args, ['redis-server', '--save', '', '--appendonly', 'no']);
  t.deepEqual(c.sysctls, { 'net.core.somaxconn': '1024' });
  t.deepEqual(c.ulimits, [{ name: 'nproc', soft: 65535, hard: 65535 }, { name: 'nofile', soft: 20000, hard: 40000 }]);
  t.deepEqual(c.capabilityDrop, ['ALL']);
  t.deepEqual(c.capabilityAdd, ['SETUID', 'SETGID']);
  t.true(c.readOnly);
  t.is(c.init, true);
  t.deepEqual(k.task!.resources, { limits: { nanoCpus: 0, memoryBytes: 1024 ** 3, pids: 0 }, reservations: undefined });
  t.is(k.endpoint, undefined);
});

test('worker: entrypoint string, extra_hosts, dns, tty, disabled healthcheck', (t) => {
  const w = svc(s, 'app_worker');
  const c = w.task!.container!;
  t.deepEqual(c.command, ['/usr/bin/worker']);
  t.deepEqual(c.args, ['--queue=default', '--concurrency=4']);
  t.is(c.dir, '/app');
  t.is(c.hostname, 'worker-{{.Task.Slot}}');
  t.deepEqual(c.hosts, ['169.254.169.254 metadata']);
  t.deepEqual(c.dnsConfig, { nameservers: ['10.0.0.2'], search: ['svc.local'], options: [] });
  t.true(c.tty);
  t.true(c.openStdin);
  t.deepEqual(c.healthcheck?.test, ['NONE']);
  t.is(c.init, undefined);
  t.deepEqual(w.mode, { $case: 'replicated', replicated: { replicas: 2 } });
});

test('networks: only used ones, overlay default, labels, ipam, internal, attachable', (t) => {
  t.deepEqual(s.networks, [
    {
      annotations: { name: 'app_backend', labels: { [NS]: 'app' } }, driver: { name: 'overlay', options: { encrypted: 'true' } },
      ipam: { driver: undefined, configs: [{ subnet: '10.20.0.0/16', range: '', gateway: '' }] }, attachable: false, internal: true, ipv6: false, ingress: false,
    },
    {
      annotations: { name: 'app_frontend', labels: { 'com.example.net': 'front', [NS]: 'app' } }, driver: { name: 'overlay', options: {} },
      ipam: undefined, attachable: true, internal: false, ipv6: false, ingress: false,
    },
  ]);
});

test('secrets and configs carry the file bytes', (t) => {
  t.is(s.secrets.length, 1);
  t.deepEqual(s.secrets[0]!.annotations, { name: 'app_db_password', labels: { 'com.example.kind': 'password', [NS]: 'app' } });
  t.is(s.secrets[0]!.data.toString(), 's3cr3t-pw');
  t.is(s.configs.length, 1);
  t.deepEqual(s.configs[0]!.annotations, { name: 'app_web_conf', labels: { [NS]: 'app' } });
  t.is(s.configs[0]!.data.toString(), 'listen 8080\nroot /srv/static\n');
});

test('the environment wins over .env', (t) => {
  const o = stack([valid('webstack', 'docker-compose.yml')], { WEB_TAG: '2.0.0', WEB_REPLICAS: '7' });
  t.is(svc(o, 'app_web').task!.container!.image, 'registry.example.com/web:2.0.0');
  t.deepEqual(svc(o, 'app_web').mode, { $case: 'replicated', replicated: { replicas: 7 } });
  t.is(svc(o, 'app_worker').task!.container!.image, 'registry.example.com/worker:2.0.0');
});
