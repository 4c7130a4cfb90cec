// Several -c files overriding each other, jobs/global/host ports, external objects, port ranges.
import test from 'ava';
import { MountType, PortProtocol, PublishMode, RestartCondition } from '@shoal/api';
import { ComposeError } from '../src/compose/index.js';
import { stack, svc, valid } from './helpers.js';

const ov = (f: string): string => valid('override', f);
const NS = 'com.docker.stack.namespace';

test('override: three files merge in order', (t) => {
  const s = stack([ov('base.yml'), ov('prod.yml'), ov('debug.yml')], { API_VERSION: '2.1' }, 'shop');
  const api = svc(s, 'shop_api');
  const c = api.task!.container!;
  t.is(c.image, 'example/api:2.1'); // scalar override with a required variable
  t.deepEqual(c.args, ['serve', '--port', '8000', '--prod']); // command replaced, not merged
  t.deepEqual(c.env, ['FEATURE_X=on', 'LOG_LEVEL=debug', 'SENTRY_DSN=https://sentry.example']); // list + map merged
  t.deepEqual(c.labels, { team: 'api', tier: 'backend', [NS]: 'shop' });
  t.deepEqual(api.endpoint?.ports.map((p) => [p.publishedPort, p.targetPort]), [[8000, 8000], [9000, 9000]]);
  // volumes merge by target: /etc/api replaced by the prod bind, data kept
  t.deepEqual(c.mounts.map((m) => [m.type, m.source, m.target, m.readOnly]), [
    [MountType.BIND, '/srv/api-config', '/etc/api', true],
    [MountType.VOLUME, 'shop_data', '/var/lib/api', false],
  ]);
  t.deepEqual(api.mode, { $case: 'replicated', replicated: { replicas: 2 } });
  t.deepEqual(api.task!.resources?.limits, { nanoCpus: 2_000_000_000, memoryBytes: 256 * 1024 ** 2, pids: 0 });
  t.deepEqual(api.task!.placement?.constraints, ['node.role == worker', 'node.labels.prod == true']);
  t.deepEqual(svc(s, 'shop_proxy').task!.container!.image, 'example/proxy:1.0');
  t.deepEqual(s.networks.map((n) => n.annotations?.name), ['shop_default']);
  t.deepEqual(svc(s, 'shop_proxy').task!.networks, [{ target: 'shop_default', aliases: ['proxy'], addresses: [] }]);
});

test('override: base alone keeps its values; relative bind resolved against the first file', (t) => {
  const s = stack([ov('base.yml')]);
  const c = svc(s, 'app_api').task!.container!;
  t.is(c.mounts[0]!.source, valid('override', 'config'));
  t.deepEqual(c.env, ['FEATURE_X=off', 'LOG_LEVEL=info']);
});

test('override: a required variable missing in a later file is reported there', (t) => {
  const e = t.throws(() => stack([ov('base.yml'), ov('prod.yml')], {}), { instanceOf: ComposeError });
  t.is(e?.message, `${ov('prod.yml')}:3:12: services.api.image: required variable API_VERSION is missing a value: API_VERSION must be set`);
});

test('jobs, global and host-mode ports', (t) => {
  const s = stack([valid('jobs', 'docker-compose.yml')], {}, 'ops');
  t.deepEqual(svc(s, 'ops_migrate').mode, { $case: 'replicatedJob', replicatedJob: { maxConcurrent: 1, totalCompletions: 1 } });
  t.deepEqual(svc(s, 'ops_migrate').task!.container!.args, ['migrate', 'up']);
  t.deepEqual(svc(s, 'ops_migrate').task!.restart, { condition: RestartCondition.RESTART_NONE, delay: undefined, maxAttempts: 0, window: undefined });
  t.deepEqual(svc(s, 'ops_batch').mode, { $case: 'replicatedJob', replicatedJob: { maxConcurrent: 5, totalCompletions: 5 } });
  t.deepEqual(svc(s, 'ops_backup').mode, { $case: 'globalJob', globalJob: {} });
  const ne = svc(s, 'ops_node-exporter');
  t.deepEqual(ne.mode, { $case: 'global', global: {} });
  t.deepEqual(ne.endpoint?.ports, [{ name: '', protocol: PortProtocol.TCP, targetPort: 9100, publishedPort: 9100, publishMode: PublishMode.HOST }]);
  t.deepEqual(ne.task!.container!.mounts.map((m) => [m.source, m.target, m.readOnly, m.propagation]), [
    ['/proc', '/host/proc', true, ''],
    ['/', '/rootfs', true, 'rslave'],
  ]);
  t.deepEqual(s.order, ['ops_backup', 'ops_batch', 'ops_migrate', 'ops_node-exporter']);
  t.deepEqual(s.warnings, []);
});

test('external networks, secrets, configs and volumes are referenced by name, not created', (t) => {
  const s = stack([valid('external', 'docker-compose.yml')], { HOME: '/home/ann' });
  const app = svc(s, 'app_app');
  const c = app.task!.container!;
  t.deepEqual(s.secrets, []);
  t.deepEqual(s.configs, []);
  t.deepEqual(s.externalNetworks, ['shared']);
  t.deepEqual(s.networks.map((n) => [n.annotations?.name, n.driver]), [['app_default', { name: 'overlay', options: { 'com.example.mtu': '1400' } }]]);
  t.deepEqual(app.task!.networks, [
    { target: 'app_default', aliases: ['app'], addresses: [] },
    { target: 'shared', aliases: ['app'], addresses: [] },
  ]);
  t.deepEqual(c.secrets.map((r) => [r.secretName, r.file?.name]), [['tls_key', '/run/secrets/tls_key'], ['prod_api_token_v2', '/etc/app/token']]);
  t.deepEqual(c.configs.map((r) => [r.configName, r.file?.name]), [['nginx_conf_v3', '/nginx_conf']]);
  t.deepEqual(c.mounts.map((m) => [m.type, m.source, m.target]), [
    [MountType.VOLUME, 'shared_data', '/data'],
    [MountType.VOLUME, '', '/var/cache'],
    [MountType.BIND, '/home/ann/logs', '/logs'],
  ]);
  t.deepEqual(c.mounts[0]!.volumeLabels, {});
  t.deepEqual(app.endpoint?.ports.map((p) => [p.publishedPort, p.targetPort, p.protocol]), [
    [3000, 8000, PortProtocol.TCP], [3001, 8001, PortProtocol.TCP], [3002, 8002, PortProtocol.TCP],
    [5000, 5000, PortProtocol.TCP], [0, 9000, PortProtocol.TCP], [6060, 6060, PortProtocol.UDP],
  ]);
});
