import test from 'ava';
import {
  MountType,
  PortProtocol,
  PublishMode,
  ResolutionMode,
  UpdateFailureAction,
  isShoalError,
  type NodeRole,
  type RestartCondition,
  type UpdateOrder,
  type ConfigSpec,
  type NetworkSpec,
  type SecretSpec,
  type Service,
  type ServiceSpec,
} from '@shoal/api';
import {
  assertServiceSpec,
  checkPortConflicts,
  checkSubnetConflicts,
  validateClusterSpec,
  validateConfigSpec,
  validateDataUnchanged,
  validateNetworkSpec,
  validateNodeSpec,
  validateSecretSpec,
  validateServiceSpec,
  validateServiceUpdate,
  type SpecRefs,
} from '../src/controlapi/validate.js';

function svc(over: (s: ServiceSpec) => void = () => {}): ServiceSpec {
  const s: ServiceSpec = {
    annotations: { name: 'web', labels: {} },
    task: {
      container: {
        image: 'nginx:1.27',
        labels: {},
        command: [],
        args: [],
        hostname: '',
        env: ['A=1'],
        dir: '',
        user: '',
        groups: [],
        mounts: [],
        stopSignal: '',
        readOnly: false,
        sysctls: {},
        capabilityAdd: [],
        capabilityDrop: [],
        ulimits: [],
        tty: false,
        openStdin: false,
        hosts: [],
        secrets: [],
        configs: [],
        registryAuth: '',
      },
      networks: [],
      forceUpdate: 0,
    },
    mode: { $case: 'replicated', replicated: { replicas: 3 } },
  };
  over(s);
  return s;
}

const upd = (o: Partial<NonNullable<ServiceSpec['update']>> = {}): NonNullable<ServiceSpec['update']> => ({
  parallelism: 1,
  failureAction: 0,
  maxFailureRatio: 0,
  order: 0,
  ...o,
});

const port = (o: Partial<{ targetPort: number; publishedPort: number; protocol: PortProtocol; publishMode: PublishMode }>) => ({
  name: '',
  protocol: PortProtocol.TCP,
  targetPort: 80,
  publishedPort: 0,
  publishMode: PublishMode.INGRESS,
  ...o,
});

const fields = (errs: { field: string }[]): string[] => errs.map((e) => e.field);

test('a valid service spec has no errors', (t) => {
  t.deepEqual(validateServiceSpec(svc()), []);
  t.notThrows(() => assertServiceSpec(svc()));
});

test('stack-style names with "_" are valid; DNS-label violations are not', (t) => {
  t.deepEqual(validateServiceSpec(svc((s) => (s.annotations!.name = 'stack_web-1'))), []);
  for (const bad of ['', '-web', 'web-', 'we b', 'web.example', 'a'.repeat(64), 'wéb']) {
    t.deepEqual(fields(validateServiceSpec(svc((s) => (s.annotations!.name = bad)))), ['annotations.name'], bad);
  }
});

test('spec, task, container and image are required', (t) => {
  t.deepEqual(fields(validateServiceSpec(undefined)), ['spec']);
  t.deepEqual(fields(validateServiceSpec(svc((s) => delete s.task))), ['task']);
  t.deepEqual(fields(validateServiceSpec(svc((s) => delete s.task!.container))), ['task.container']);
  t.deepEqual(fields(validateServiceSpec(svc((s) => (s.task!.container!.image = '')))), ['task.container.image']);
  t.deepEqual(fields(validateServiceSpec(svc((s) => (s.task!.container!.image = 'ngi nx')))), ['task.container.image']);
});

test('mode is required and replicas must be a sane integer', (t) => {
  t.deepEqual(fields(validateServiceSpec(svc((s) => delete s.mode))), ['mode']);
  t.deepEqual(fields(validateServiceSpec(svc((s) => (s.mode = { $case: 'replicated', replicated: { replicas: -1 } })))), ['mode.replicated.replicas']);
  t.deepEqual(fields(validateServiceSpec(svc((s) => (s.mode = { $case: 'replicated', replicated: { replicas: 1.5 } })))), ['mode.replicated.replicas']);
  t.deepEqual(fields(validateServiceSpec(svc((s) => (s.mode = { $case: 'replicated', replicated: { replicas: 2_000_000 } })))), ['mode.replicated.replicas']);
  t.deepEqual(validateServiceSpec(svc((s) => (s.mode = { $case: 'global', global: {} }))), []);
  t.deepEqual(
    fields(validateServiceSpec(svc((s) => ((s.mode = { $case: 'replicatedJob', replicatedJob: { maxConcurrent: -2, totalCompletions: 1 } }), (s.update = upd()))))),
    ['mode.replicated_job.max_concurrent', 'update'],
  );
});

test('update and rollback config ranges', (t) => {
  const f = (u: Partial<NonNullable<ServiceSpec['update']>>, where: 'update' | 'rollback' = 'update') =>
    fields(validateServiceSpec(svc((s) => (s[where] = upd(u)))));
  t.deepEqual(f({ maxFailureRatio: 0.5 }), []);
  t.deepEqual(f({ maxFailureRatio: 1 }), []);
  t.deepEqual(f({ maxFailureRatio: 1.01 }), ['update.max_failure_ratio']);
  t.deepEqual(f({ maxFailureRatio: -0.1 }), ['update.max_failure_ratio']);
  t.deepEqual(f({ maxFailureRatio: Number.NaN }), ['update.max_failure_ratio']);
  t.deepEqual(f({ parallelism: -1 }), ['update.parallelism']);
  t.deepEqual(f({ parallelism: 0 }), []);
  t.deepEqual(f({ delay: { seconds: -1, nanos: 0 } }), ['update.delay']);
  t.deepEqual(f({ monitor: { seconds: 0, nanos: -5 } }), ['update.monitor']);
  t.deepEqual(f({ order: 7 as number as UpdateOrder }), ['update.order']);
  t.deepEqual(f({ failureAction: -1 }), ['update.failure_action']);
  t.deepEqual(f({ canary: { enabled: true, autoPromoteAfter: { seconds: -3, nanos: 0 } } }), ['update.canary.auto_promote_after']);
  t.deepEqual(f({ maxFailureRatio: 2 }, 'rollback'), ['rollback.max_failure_ratio']);
  t.deepEqual(f({ failureAction: UpdateFailureAction.ROLLBACK_ON_FAILURE }, 'rollback'), ['rollback.failure_action']);
});

test('resources: non-negative, reservations within limits, pids only limited', (t) => {
  const f = (r: NonNullable<NonNullable<ServiceSpec['task']>['resources']>) => fields(validateServiceSpec(svc((s) => (s.task!.resources = r))));
  const res = (nanoCpus: number, memoryBytes: number, pids = 0) => ({ nanoCpus, memoryBytes, pids });
  t.deepEqual(f({ limits: res(2e9, 1 << 30, 100), reservations: res(1e9, 1 << 29) }), []);
  t.deepEqual(f({ limits: res(1e9, 1 << 30), reservations: res(2e9, 1 << 29) }), ['task.resources.reservations.nano_cpus']);
  t.deepEqual(f({ limits: res(1e9, 1 << 29), reservations: res(1e9, 1 << 30) }), ['task.resources.reservations.memory_bytes']);
  t.deepEqual(f({ limits: res(-1, 0) }), ['task.resources.limits.nano_cpus']);
  t.deepEqual(f({ reservations: res(0, -5) }), ['task.resources.reservations.memory_bytes']);
  t.deepEqual(f({ limits: res(0, 1024) }), ['task.resources.limits.memory_bytes']);
  t.deepEqual(f({ reservations: res(0, 0, 5) }), ['task.resources.reservations.pids']);
  t.deepEqual(f({ limits: res(0, 0, -1) }), ['task.resources.limits.pids']);
  // a reservation with no limit is fine
  t.deepEqual(f({ limits: res(0, 0), reservations: res(4e9, 1 << 30) }), []);
});

test('restart policy', (t) => {
  const f = (r: NonNullable<NonNullable<ServiceSpec['task']>['restart']>) => fields(validateServiceSpec(svc((s) => (s.task!.restart = r))));
  t.deepEqual(f({ condition: 2, maxAttempts: 3, delay: { seconds: 5, nanos: 0 } }), []);
  t.deepEqual(f({ condition: 9 as number as RestartCondition, maxAttempts: 0 }), ['task.restart.condition']);
  t.deepEqual(f({ condition: 0, maxAttempts: -1 }), ['task.restart.max_attempts']);
  t.deepEqual(f({ condition: 0, maxAttempts: 0, delay: { seconds: -1, nanos: 0 } }), ['task.restart.delay']);
  t.deepEqual(f({ condition: 0, maxAttempts: 0, window: { seconds: -60, nanos: 0 } }), ['task.restart.window']);
});

test('placement constraints and preferences use the scheduler parser', (t) => {
  const f = (constraints: string[], prefs: string[] = []) =>
    validateServiceSpec(
      svc((s) => (s.task!.placement = { constraints, preferences: prefs.map((p) => ({ spreadDescriptor: p })), maxReplicas: 0, platforms: [] })),
    );
  t.deepEqual(f(['node.role==manager', 'node.labels.zone!=b', 'node.hostname==n1'], ['node.labels.zone']), []);
  t.deepEqual(fields(f(['node.role==manager', 'node.role=manager'])), ['task.placement.constraints[1]']);
  t.deepEqual(fields(f(['node.role==boss'])), ['task.placement.constraints[0]']);
  t.deepEqual(fields(f(['node.colour==red'])), ['task.placement.constraints[0]']);
  t.deepEqual(fields(f(['node.labels.a=='])), ['task.placement.constraints[0]']);
  t.deepEqual(fields(f(['node.ip==300.1.1.1'])), ['task.placement.constraints[0]']);
  t.deepEqual(fields(f([], ['zone'])), ['task.placement.preferences[0].spread_descriptor']);
  const errs = f(['node.role=manager']);
  t.regex(errs[0]!.reason, /no operator/);
});

test('ports: range, duplicates per protocol, dnsrr with ingress', (t) => {
  const f = (ports: ReturnType<typeof port>[], mode = ResolutionMode.VIP) => fields(validateServiceSpec(svc((s) => (s.endpoint = { mode, ports }))));
  t.deepEqual(f([port({ publishedPort: 8080 }), port({ publishedPort: 8080, protocol: PortProtocol.UDP }), port({ targetPort: 443 })]), []);
  t.deepEqual(f([port({ targetPort: 0 })]), ['endpoint.ports[0].target_port']);
  t.deepEqual(f([port({ targetPort: 65536 })]), ['endpoint.ports[0].target_port']);
  t.deepEqual(f([port({ publishedPort: 70000 })]), ['endpoint.ports[0].published_port']);
  t.deepEqual(f([port({ publishedPort: 8080 }), port({ publishedPort: 8080, targetPort: 81 })]), ['endpoint.ports[1].published_port']);
  t.deepEqual(f([port({ publishedPort: 8080 }), port({ publishedPort: 8080, publishMode: PublishMode.HOST })]), ['endpoint.ports[1].published_port']);
  t.deepEqual(f([port({ publishedPort: 8080 })], ResolutionMode.DNSRR), ['endpoint.ports[0].publish_mode']);
  t.deepEqual(f([port({ publishedPort: 8080, publishMode: PublishMode.HOST })], ResolutionMode.DNSRR), []);
  t.deepEqual(f([port({ protocol: 9 as PortProtocol })]), ['endpoint.ports[0].protocol']);
});

test('ingress port conflicts with other services', (t) => {
  const other = { id: 's2', spec: svc((s) => ((s.annotations!.name = 'api'), (s.endpoint = { mode: 0, ports: [port({ publishedPort: 8080 })] }))) } as Service;
  const mine = svc((s) => (s.endpoint = { mode: 0, ports: [port({ targetPort: 1, publishedPort: 9090 }), port({ publishedPort: 8080 })] }));
  const errs = checkPortConflicts(mine, [other]);
  t.deepEqual(fields(errs), ['endpoint.ports[1].published_port']);
  t.regex(errs[0]!.reason, /"api"/);
  t.deepEqual(checkPortConflicts(mine, [other], 's2'), [], 'a service does not conflict with itself');
  const hostMode = svc((s) => (s.endpoint = { mode: 0, ports: [port({ publishedPort: 8080, publishMode: PublishMode.HOST })] }));
  t.deepEqual(checkPortConflicts(hostMode, [other]), [], 'host-mode ports are per node');
});

test('container details: env, mounts, healthcheck, ulimits, hosts, dns', (t) => {
  const f = (over: (c: NonNullable<NonNullable<ServiceSpec['task']>['container']>) => void) => fields(validateServiceSpec(svc((s) => over(s.task!.container!))));
  const mount = (type: MountType, source: string, target: string) => ({
    type,
    source,
    target,
    readOnly: false,
    propagation: '',
    volumeNoCopy: false,
    volumeLabels: {},
    tmpfsSizeBytes: 0,
    tmpfsMode: 0,
  });
  t.deepEqual(f((c) => (c.env = ['=x'])), ['task.container.env[0]']);
  t.deepEqual(f((c) => (c.dir = 'relative')), ['task.container.dir']);
  t.deepEqual(f((c) => (c.mounts = [mount(MountType.BIND, '/data', '/data'), mount(MountType.VOLUME, 'vol', '/v'), mount(MountType.TMPFS, '', '/tmp')])), []);
  t.deepEqual(f((c) => (c.mounts = [mount(MountType.BIND, 'data', '/data')])), ['task.container.mounts[0].source']);
  t.deepEqual(f((c) => (c.mounts = [mount(MountType.VOLUME, 'v', 'rel')])), ['task.container.mounts[0].target']);
  t.deepEqual(f((c) => (c.mounts = [mount(MountType.VOLUME, 'v', '/a'), mount(MountType.TMPFS, '', '/a')])), ['task.container.mounts[1].target']);
  t.deepEqual(f((c) => (c.mounts = [mount(MountType.TMPFS, 'x', '/t')])), ['task.container.mounts[0].source']);
  t.deepEqual(f((c) => (c.healthcheck = { test: ['CMD', 'true'], retries: 3, interval: { seconds: 5, nanos: 0 } })), []);
  t.deepEqual(f((c) => (c.healthcheck = { test: ['SHELL', 'true'], retries: 3 })), ['task.container.healthcheck.test[0]']);
  t.deepEqual(f((c) => (c.healthcheck = { test: ['CMD'], retries: 0 })), ['task.container.healthcheck.test']);
  t.deepEqual(f((c) => (c.healthcheck = { test: ['NONE'], retries: -1 })), ['task.container.healthcheck.retries']);
  t.deepEqual(f((c) => (c.healthcheck = { test: ['NONE'], retries: 0, timeout: { seconds: -1, nanos: 0 } })), ['task.container.healthcheck.timeout']);
  t.deepEqual(f((c) => (c.ulimits = [{ name: 'nofile', soft: 2048, hard: 1024 }])), ['task.container.ulimits[0].soft']);
  t.deepEqual(f((c) => (c.hosts = ['10.0.0.1 db', 'db'])), ['task.container.hosts[1]']);
  t.deepEqual(f((c) => (c.dnsConfig = { nameservers: ['8.8.8.8', 'dns.local'], search: [], options: [] })), ['task.container.dns_config.nameservers[1]']);
});

const refs: SpecRefs = {
  network: (t) => (t === 'front' || t === 'n1' ? { id: 'n1', name: 'front', ingress: false } : t === 'ingress' ? { id: 'ni', name: 'ingress', ingress: true } : undefined),
  secret: (t) => (t === 'db-pass' || t === 'sec1' ? { id: 'sec1', name: 'db-pass' } : undefined),
  config: (t) => (t === 'nginx.conf' ? { id: 'cfg1', name: 'nginx.conf' } : undefined),
};

test('networks, secrets and configs must exist', (t) => {
  const net = (target: string) => ({ target, aliases: [], addresses: [] });
  const f = (over: (s: ServiceSpec) => void) => fields(validateServiceSpec(svc(over), refs));
  t.deepEqual(f((s) => (s.task!.networks = [net('front')])), []);
  t.deepEqual(f((s) => (s.task!.networks = [net('back')])), ['task.networks[0].target']);
  t.deepEqual(f((s) => (s.task!.networks = [net('front'), net('n1')])), ['task.networks[1].target']);
  t.deepEqual(f((s) => (s.task!.networks = [net('ingress')])), ['task.networks[0].target']);
  t.deepEqual(f((s) => (s.task!.networks = [net('')])), ['task.networks[0].target']);
  const sec = (secretId: string, secretName: string, file = '') => ({ secretId, secretName, file: { name: file, uid: '0', gid: '0', mode: 0o444 } });
  t.deepEqual(f((s) => (s.task!.container!.secrets = [sec('sec1', 'db-pass')])), []);
  t.deepEqual(f((s) => (s.task!.container!.secrets = [sec('', 'db-pass')])), []);
  t.deepEqual(f((s) => (s.task!.container!.secrets = [sec('', 'nope')])), ['task.container.secrets[0].secret_name']);
  t.deepEqual(f((s) => (s.task!.container!.secrets = [sec('zzz', '')])), ['task.container.secrets[0].secret_id']);
  t.deepEqual(f((s) => (s.task!.container!.secrets = [sec('sec1', 'other')])), ['task.container.secrets[0].secret_name']);
  t.deepEqual(f((s) => (s.task!.container!.secrets = [sec('', '')])), ['task.container.secrets[0]']);
  t.deepEqual(f((s) => (s.task!.container!.secrets = [sec('sec1', '', 'a'), sec('sec1', '', 'a')])), ['task.container.secrets[1].file.name']);
  t.deepEqual(
    f((s) => (s.task!.container!.configs = [{ configId: '', configName: 'missing', file: undefined }])),
    ['task.container.configs[0].config_name'],
  );
  // without refs only the shape is checked
  t.deepEqual(fields(validateServiceSpec(svc((s) => (s.task!.networks = [net('back')])))), []);
});

test('several errors are all reported; assert throws InvalidArgument with the first field', (t) => {
  const bad = svc((s) => {
    s.annotations!.name = '';
    s.task!.container!.image = '';
    s.update = upd({ maxFailureRatio: 3 });
  });
  t.deepEqual(fields(validateServiceSpec(bad)), ['annotations.name', 'task.container.image', 'update.max_failure_ratio']);
  const err = t.throws(() => assertServiceSpec(bad));
  t.true(isShoalError(err, 'InvalidArgument'));
  t.is((err as { field?: string }).field, 'annotations.name');
  t.regex(err!.message, /task\.container\.image/);
});

test('service updates may not rename or change mode', (t) => {
  t.deepEqual(validateServiceUpdate(svc(), svc((s) => (s.mode = { $case: 'replicated', replicated: { replicas: 9 } }))), []);
  t.deepEqual(fields(validateServiceUpdate(svc(), svc((s) => (s.annotations!.name = 'web2')))), ['annotations.name']);
  t.deepEqual(fields(validateServiceUpdate(svc(), svc((s) => (s.mode = { $case: 'global', global: {} })))), ['mode']);
});

// ---------------------------------------------------------------- networks

function netSpec(over: (n: NetworkSpec) => void = () => {}): NetworkSpec {
  const n: NetworkSpec = {
    annotations: { name: 'front', labels: {} },
    driver: { name: 'overlay', options: {} },
    ipam: { configs: [{ subnet: '10.0.1.0/24', range: '', gateway: '10.0.1.1' }] },
    attachable: false,
    internal: false,
    ipv6: false,
    ingress: false,
  };
  over(n);
  return n;
}

test('network specs', (t) => {
  const f = (over: (n: NetworkSpec) => void) => fields(validateNetworkSpec(netSpec(over)));
  t.deepEqual(validateNetworkSpec(netSpec()), []);
  t.deepEqual(f((n) => delete n.driver), []);
  t.deepEqual(f((n) => (n.annotations!.name = '')), ['annotations.name']);
  t.deepEqual(f((n) => (n.annotations!.name = '-x')), ['annotations.name']);
  t.deepEqual(f((n) => (n.driver!.name = 'bridge')), ['driver.name']);
  t.deepEqual(f((n) => (n.ipam!.configs[0]!.subnet = '10.0.1.0')), ['ipam.configs[0].subnet']);
  t.deepEqual(f((n) => (n.ipam!.configs[0]!.subnet = '10.0.1.0/33')), ['ipam.configs[0].subnet']);
  t.deepEqual(f((n) => (n.ipam!.configs[0]!.subnet = '10.0.300.0/24')), ['ipam.configs[0].subnet']);
  t.deepEqual(f((n) => (n.ipam!.configs[0]!.subnet = '10.0.1.5/24')), ['ipam.configs[0].subnet']);
  t.deepEqual(f((n) => (n.ipam!.configs[0]!.subnet = '10.0.1.0/30')), ['ipam.configs[0].subnet']);
  t.deepEqual(f((n) => (n.ipam!.configs[0]!.gateway = '10.0.2.1')), ['ipam.configs[0].gateway']);
  t.deepEqual(f((n) => (n.ipam!.configs[0]!.range = '10.0.1.128/25')), []);
  t.deepEqual(f((n) => (n.ipam!.configs[0]!.range = '10.0.0.0/16')), ['ipam.configs[0].range']);
  t.deepEqual(f((n) => n.ipam!.configs.push({ subnet: '10.0.0.0/16', range: '', gateway: '' })), ['ipam.configs[1].subnet']);
  t.deepEqual(f((n) => n.ipam!.configs.push({ subnet: 'fd00::/64', range: '', gateway: '' })), ['ipam.configs[1].subnet']);
  t.deepEqual(f((n) => ((n.ipv6 = true), n.ipam!.configs.push({ subnet: 'fd00::/64', range: '', gateway: 'fd00::1' }))), []);
  t.deepEqual(f((n) => ((n.ingress = true), (n.attachable = true))), ['attachable']);
  t.deepEqual(f((n) => (n.ipam!.driver = { name: 'dhcp', options: {} })), ['ipam.driver.name']);
});

test('network subnets must not overlap other networks', (t) => {
  const errs = checkSubnetConflicts(netSpec(), [{ name: 'back', subnets: ['10.0.0.0/16'] }]);
  t.deepEqual(fields(errs), ['ipam.configs[0].subnet']);
  t.deepEqual(checkSubnetConflicts(netSpec(), [{ name: 'back', subnets: ['10.0.2.0/24'] }]), []);
});

// ---------------------------------------------------------------- secrets, configs, nodes, cluster

test('secret specs: name, data required, 500 KiB limit', (t) => {
  const sec = (name: string, data: Buffer, driver?: string): SecretSpec => ({ annotations: { name, labels: {} }, data, ...(driver ? { driver: { name: driver, options: {} } } : {}) });
  t.deepEqual(validateSecretSpec(sec('db.pass_1', Buffer.from('x'))), []);
  t.deepEqual(validateSecretSpec(sec('db', Buffer.alloc(500 * 1024))), []);
  t.deepEqual(fields(validateSecretSpec(sec('db', Buffer.alloc(500 * 1024 + 1)))), ['data']);
  t.deepEqual(fields(validateSecretSpec(sec('db', Buffer.alloc(0)))), ['data']);
  t.deepEqual(validateSecretSpec(sec('db', Buffer.alloc(0), 'vault')), []);
  t.deepEqual(fields(validateSecretSpec(sec('', Buffer.from('x')))), ['annotations.name']);
  t.deepEqual(fields(validateSecretSpec(sec('a/b', Buffer.from('x')))), ['annotations.name']);
  t.deepEqual(fields(validateSecretSpec(sec('x'.repeat(65), Buffer.from('x')))), ['annotations.name']);
});

test('config specs and immutability of data', (t) => {
  const cfg = (name: string, data: Buffer): ConfigSpec => ({ annotations: { name, labels: {} }, data });
  t.deepEqual(validateConfigSpec(cfg('nginx.conf', Buffer.from('x'))), []);
  t.deepEqual(fields(validateConfigSpec(cfg('nginx.conf', Buffer.alloc(1000 * 1024 + 1)))), ['data']);
  t.deepEqual(fields(validateConfigSpec(cfg('.x', Buffer.from('x')))), ['annotations.name']);
  t.deepEqual(fields(validateConfigSpec(undefined)), ['spec']);
  t.deepEqual(validateDataUnchanged(cfg('a', Buffer.from('x')), cfg('a', Buffer.alloc(0))), []);
  t.deepEqual(validateDataUnchanged(cfg('a', Buffer.from('x')), cfg('a', Buffer.from('x'))), []);
  t.deepEqual(fields(validateDataUnchanged(cfg('a', Buffer.from('x')), cfg('a', Buffer.from('y')))), ['data']);
  t.deepEqual(fields(validateDataUnchanged(cfg('a', Buffer.from('x')), cfg('b', Buffer.from('x')))), ['annotations.name']);
});

test('node and cluster specs', (t) => {
  t.deepEqual(validateNodeSpec({ annotations: { name: '', labels: { zone: 'a' } }, desiredRole: 1, availability: 2 }), []);
  t.deepEqual(fields(validateNodeSpec({ desiredRole: 5 as number as NodeRole, availability: 0 })), ['desired_role']);
  t.deepEqual(fields(validateNodeSpec({ desiredRole: 0, availability: -1 })), ['availability']);
  t.deepEqual(fields(validateNodeSpec({ annotations: { name: '', labels: { '': 'x' } }, desiredRole: 0, availability: 0 })), ['annotations.labels']);
  t.deepEqual(validateClusterSpec({ orchestration: { taskHistoryRetentionLimit: 5 }, dispatcher: { heartbeatPeriod: { seconds: 5, nanos: 0 } } }), []);
  t.deepEqual(fields(validateClusterSpec({ orchestration: { taskHistoryRetentionLimit: -1 } })), ['orchestration.task_history_retention_limit']);
  t.deepEqual(fields(validateClusterSpec({ dispatcher: { heartbeatPeriod: { seconds: 0, nanos: 1000 } } })), ['dispatcher.heartbeat_period']);
  t.deepEqual(fields(validateClusterSpec({ ca: { nodeCertExpiry: { seconds: 60, nanos: 0 } } })), ['ca.node_cert_expiry']);
  t.deepEqual(
    fields(validateClusterSpec({ raft: { snapshotInterval: 10, logEntriesForSlowFollowers: 5, heartbeatTick: 5, electionTick: 3 } })),
    ['raft.election_tick'],
  );
});
