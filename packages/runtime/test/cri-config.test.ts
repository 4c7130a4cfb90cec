import test from 'ava';
import { containerConfig, sandboxConfig, hostsFileContent, normalizeSignal, parseUser, validateSpec, runtimeHandler, type HostPaths } from '../src/cri/config.js';
import type { TaskContainerSpec } from '@shoal/runtime';

const base: TaskContainerSpec = { taskId: 't1', serviceId: 's1', serviceName: 'web', slot: 2, nodeId: 'n1', image: 'shoal-test/busybox:1' };
const paths: HostPaths = {
  cgroupParent: '/shoal/x/t1', logDirectory: '/st/t1/logs', volumeDir: (n) => `/st/volumes/${n}`, tmpfsDir: (i) => `/st/t1/tmpfs/${i}`, hostsFile: '/st/t1/hosts',
};

test('signals normalise and reject unknown ones', (t) => {
  t.is(normalizeSignal(undefined), 'SIGTERM');
  t.is(normalizeSignal('usr1'), 'SIGUSR1');
  t.is(normalizeSignal('9'), 'SIGKILL');
  t.throws(() => normalizeSignal('SIGNOPE'), { message: /unknown signal/ });
});

test('user strings map to CRI fields', (t) => {
  t.deepEqual(parseUser('1000'), { runAsUser: { value: 1000 } });
  t.deepEqual(parseUser('1000:2000'), { runAsUser: { value: 1000 }, runAsGroup: { value: 2000 } });
  t.deepEqual(parseUser('shoal'), { runAsUsername: 'shoal' });
  t.throws(() => parseUser('shoal:staff'), { message: /numeric/ });
});

test('validation names the field', (t) => {
  t.throws(() => validateSpec({ ...base, taskId: '' }), { message: /taskId/ });
  t.throws(() => validateSpec({ ...base, network: { mode: 'host' }, hostname: 'h' }), { message: /hostname/ });
  t.throws(() => validateSpec({ ...base, mounts: [{ type: 'bind', source: 'rel', target: '/x' }] }), { message: /mounts\[0\]\.source/ });
  t.throws(() => validateSpec({ ...base, labels: { 'io.shoal.task.id': 'x' } }), { message: /reserved/ });
  t.throws(() => validateSpec({ ...base, ulimits: [{ name: 'bogus', soft: 1, hard: 1 }] }), { message: /ulimits/ });
  t.notThrows(() => validateSpec({ ...base, user: '1000:1000', groups: ['2000'], stopSignal: 'SIGUSR1' }));
});

test('container config maps every field', (t) => {
  const spec: TaskContainerSpec = {
    ...base, command: ['sh'], args: ['-c', 'x'], env: ['A=1', 'B=x=y', 'C'], dir: '/tmp', user: '1000:1000', groups: ['2000'],
    labels: { app: 'web' }, readOnly: true, init: true, capAdd: ['net_admin'], capDrop: ['CAP_CHOWN'], tty: true, stdin: true,
    resources: { nanoCpus: 500_000_000, memoryBytes: 64 << 20, pids: 50 },
    mounts: [{ type: 'bind', source: '/src', target: '/b', readOnly: true }, { type: 'volume', name: 'v', target: '/v' }, { type: 'tmpfs', target: '/t', sizeBytes: 1 << 20 }],
  };
  const c = containerConfig(spec, paths, spec.image) as any;
  t.deepEqual(c.command, ['sh']);
  t.deepEqual(c.args, ['-c', 'x']);
  t.deepEqual(c.envs, [{ key: 'A', value: '1' }, { key: 'B', value: 'x=y' }, { key: 'C', value: '' }]);
  t.is(c.workingDir, '/tmp');
  t.is(c.labels.app, 'web');
  t.is(c.labels['io.shoal.task.id'], 't1');
  t.is(c.labels['io.shoal.task.slot'], '2');
  t.true(c.tty);
  t.true(c.stdin);
  t.deepEqual(c.mounts.map((m: any) => [m.containerPath, m.hostPath, m.readonly]), [['/b', '/src', true], ['/v', '/st/volumes/v', false], ['/t', '/st/t1/tmpfs/2', false], ['/etc/hosts', '/st/t1/hosts', false]]);
  t.deepEqual(c.linux.resources, { cpuPeriod: 100000, cpuQuota: 50000, memoryLimitInBytes: 64 << 20 });
  const sc = c.linux.securityContext;
  t.true(sc.readonlyRootfs);
  t.deepEqual(sc.runAsUser, { value: 1000 });
  t.deepEqual(sc.runAsGroup, { value: 1000 });
  t.deepEqual(sc.supplementalGroups, [2000]);
  t.deepEqual(sc.capabilities, { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['CHOWN'] }, 'CRI names have no CAP_ prefix (containerd adds it)');
  t.is(sc.namespaceOptions.pid, 'POD');
});

test('sandbox config: hostname, dns, sysctls, cgroup parent, namespaces', (t) => {
  const s = sandboxConfig({ ...base, hostname: 'h1', dns: { servers: ['10.0.0.2'], searches: ['svc'] }, sysctls: { 'net.ipv4.ip_forward': '1' } }, paths) as any;
  t.is(s.hostname, 'h1');
  t.deepEqual(s.dnsConfig, { servers: ['10.0.0.2'], searches: ['svc'], options: [] });
  t.is(s.linux.cgroupParent, '/shoal/x/t1');
  t.deepEqual(s.linux.sysctls, { 'net.ipv4.ip_forward': '1' });
  t.deepEqual(s.linux.securityContext.namespaceOptions, { network: 'POD', pid: 'CONTAINER', ipc: 'POD' });
  t.is(s.metadata.uid, 't1');
  const h = sandboxConfig({ ...base, network: { mode: 'host' } }, paths) as any;
  t.is(h.hostname, '');
  t.is(h.linux.securityContext.namespaceOptions.network, 'NODE');
  t.is(runtimeHandler({ ...base, network: { mode: 'none' } }), 'shoal-none');
  t.is(runtimeHandler(base), '');
});

test('hosts file has localhost, own name and extra hosts in both formats', (t) => {
  const h = hostsFileContent({ ...base, extraHosts: ['db:10.1.2.3', '10.9.9.9 cache cache.local', 'v6:fd00::1'] }, '10.213.5.2', 'web1');
  t.is(h, '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.213.5.2\tweb1\n10.1.2.3\tdb\n10.9.9.9\tcache cache.local\nfd00::1\tv6\n');
});
