import test from 'ava';
import { rmSync as rmTmp } from 'node:fs';
const tmpDirs: string[] = [];
function keep(d: string): string {
  tmpDirs.push(d);
  return d;
}
test.after.always(() => {
  for (const d of tmpDirs) rmTmp(d, { recursive: true, force: true });
});
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseAddr, parseLabels, readSavedFlags, resolveConfig, writeSavedFlags } from '../src/config.js';

test('defaults apply and the control socket lives in the data dir', (t) => {
  const c = resolveConfig({ dataDir: '/tmp/x', hostname: 'h' });
  t.is(c.listenAddr, '127.0.0.1:4242');
  t.is(c.advertiseAddr, '127.0.0.1:4242');
  t.is(c.controlSocket, '/tmp/x/control.sock');
  t.is(c.metricsAddr, '127.0.0.1:9323');
  t.is(c.heartbeatPeriodMs, 5000);
  t.is(c.runtime, 'cri');
});

test('with the default data dir the control socket is where the CLI looks by default', (t) => {
  const c = resolveConfig({ hostname: 'h' });
  t.is(c.dataDir, '/var/lib/shoal');
  t.is(c.controlSocket, '/var/run/shoal/control.sock');
  t.is(resolveConfig({ hostname: 'h', controlSocket: '/tmp/s.sock' }).controlSocket, '/tmp/s.sock');
});

test('flags are validated with the flag named', (t) => {
  t.throws(() => resolveConfig({ dataDir: '/tmp/x', listenAddr: 'nope' }), { instanceOf: ConfigError, message: /--listen-addr/ });
  t.throws(() => resolveConfig({ dataDir: '/tmp/x', runtime: 'docker' }), { instanceOf: ConfigError, message: /--runtime/ });
  t.throws(() => resolveConfig({ dataDir: '/tmp/x', heartbeatPeriod: 'soon' }), { instanceOf: ConfigError, message: /--heartbeat-period/ });
  t.throws(() => resolveConfig({ dataDir: '/tmp/x', heartbeatPeriod: '1ms' }), { instanceOf: ConfigError, message: /too short/ });
  t.is(resolveConfig({ dataDir: '/tmp/x', heartbeatPeriod: '500ms' }).heartbeatPeriodMs, 500);
  t.is(resolveConfig({ dataDir: '/tmp/x', metricsAddr: 'off' }).metricsAddr, '');
  t.is(parseAddr('a', '[::1]:80'), '[::1]:80');
});

test('labels: repeated and comma separated', (t) => {
  t.deepEqual(parseLabels(['zone=a,ssd', 'rack=r1=x']), { zone: 'a', ssd: '', rack: 'r1=x' });
  t.throws(() => parseLabels(['=v']), { instanceOf: ConfigError });
});

test('saved settings come back for run, and flags override them', (t) => {
  const dataDir = keep(mkdtempSync(join(tmpdir(), 'shoald-cfg-')));
  const c = resolveConfig({ dataDir, listenAddr: '127.0.0.1:5000', runtime: 'hollow', heartbeatPeriod: '500ms', labels: ['a=b'], hostname: 'h1' });
  writeSavedFlags(c);
  const saved = readSavedFlags(dataDir);
  const again = resolveConfig({ dataDir }, saved);
  t.is(again.listenAddr, '127.0.0.1:5000');
  t.is(again.runtime, 'hollow');
  t.is(again.heartbeatPeriodMs, 500);
  t.deepEqual(again.labels, { a: 'b' });
  t.is(resolveConfig({ dataDir, listenAddr: '127.0.0.1:6000' }, saved).listenAddr, '127.0.0.1:6000');
});
