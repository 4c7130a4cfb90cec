// The CLI as a child process: help, usage errors, offline stack commands, unreachable manager.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { parse } from 'yaml';
import { valid } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function shoal(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=shoal-src', 'packages/cli/src/main.ts', ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, SHOAL_HOST: '', ...env }, timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--help lists the command tree and exits 0', (t) => {
  const r = shoal(['--help']);
  t.is(r.code, 0);
  for (const c of ['swarm', 'node', 'service', 'network', 'secret', 'config', 'stack']) t.regex(r.stdout, new RegExp(`\\n  ${c} `));
  t.regex(r.stdout, /--host <addr>/);
});

test('sub-command help', (t) => {
  const r = shoal(['stack', 'deploy', '--help']);
  t.is(r.code, 0);
  t.regex(r.stdout, /Usage: shoal stack deploy \[options\] <stack>/);
  t.regex(r.stdout, /--dry-run/);
  t.regex(r.stdout, /--prune/);
  const s = shoal(['service', '--help']);
  for (const c of ['create', 'ls', 'ps', 'inspect', 'scale', 'update', 'rollback', 'rm', 'logs']) t.regex(s.stdout, new RegExp(`\\n  ${c}`));
});

test('usage errors exit 2 with one line', (t) => {
  for (const args of [['service', 'ls', '--bogus'], ['stack', 'deploy', 'x'], ['nosuch'], ['node', 'update'], ['swarm', 'join-token', 'admin']]) {
    const r = shoal(args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, /^shoal: error: .+\n$/, args.join(' '));
  }
});

test('stack config prints the merged, interpolated file', (t) => {
  const r = shoal(['stack', 'config', '-c', valid('override', 'base.yml'), '-c', valid('override', 'prod.yml')], { API_VERSION: '3.3' });
  t.is(r.code, 0, r.stderr);
  const doc = parse(r.stdout) as { services: { api: { image: string; deploy: { replicas: number }; environment: Record<string, string> } } };
  t.is(doc.services.api.image, 'example/api:3.3');
  t.is(doc.services.api.deploy.replicas, 6);
  t.deepEqual(doc.services.api.environment, { LOG_LEVEL: 'info', FEATURE_X: 'on', SENTRY_DSN: 'https://sentry.example' });
});

test('stack deploy --dry-run --format json prints Control API specs without a cluster', (t) => {
  const r = shoal(['--host', '127.0.0.1:1', 'stack', 'deploy', '--dry-run', '--format', 'json', '-c', valid('webstack', 'docker-compose.yml'), 'app']);
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    services: Array<{ annotations: { name: string }; replicated?: { replicas: number }; global?: object; update?: { canary?: { enabled: boolean } } }>;
    networks: Array<{ annotations: { name: string } }>; secrets: Array<{ annotations: { name: string }; data: string }>;
    configs: unknown[]; order: string[]; warnings: string[];
  };
  t.deepEqual(j.order, ['app_cache', 'app_db', 'app_web', 'app_worker']);
  t.deepEqual(j.services.map((s) => s.annotations.name), j.order);
  t.deepEqual(j.services[2]!.replicated, { replicas: 3 });
  t.deepEqual(j.services[0]!.global, {});
  t.deepEqual(j.services[2]!.update?.canary, { enabled: true, autoPromoteAfter: { seconds: 120 } });
  t.deepEqual(j.networks.map((n) => n.annotations.name), ['app_backend', 'app_frontend']);
  t.is(Buffer.from(j.secrets[0]!.data, 'base64').toString(), 's3cr3t-pw');
  t.is(j.configs.length, 1);
  t.deepEqual(j.warnings, ['Ignoring unsupported options: restart, shm_size']);
});

test('Compose errors are one line with file:line:col and key path, exit 1', (t) => {
  const f = fileURLToPath(new URL('../../../test/compose/invalid/bad-memory.yml', import.meta.url));
  const r = shoal(['stack', 'deploy', '--dry-run', '-c', f, 'x']);
  t.is(r.code, 1);
  t.is(r.stderr, `shoal: error: ${f}:7:19: services.web.deploy.resources.limits.memory: invalid size "512X" (expected a number of bytes or e.g. 512M, 1.5G, 100k)\n`);
});

test('an unreachable manager: one line naming the address, non-zero, fast', (t) => {
  const start = Date.now();
  const r = shoal(['--host', '127.0.0.1:1', 'service', 'ls']);
  t.is(r.code, 1);
  t.is(r.stderr, 'shoal: error: cannot reach the manager at 127.0.0.1:1 (connection refused)\n');
  t.true(Date.now() - start < 20_000);
  const u = shoal(['node', 'ls'], { SHOAL_HOST: 'unix:/nonexistent/shoal.sock' });
  t.is(u.code, 1);
  t.regex(u.stderr, /^shoal: error: cannot reach the manager at unix:\/nonexistent\/shoal.sock \(.+\)\n$/);
});
