// scripts/quickstart.sh end to end (root): up starts 3 managers + 2 workers (each worker with its
// own containerd) and deploys the demo stack with real containers; down leaves nothing behind.
// Runs on the existing build (SHOAL_QUICKSTART_SKIP_BUILD=1) when there is one, in a temp state
// dir with its own ports, containerd names and bridge subnets, so it never meets a user's quickstart.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@shoal/testkit';
import { shoal } from './_shoal-cli.js';

const state = join(mkdtempSync(join(tmpdir(), 'shoal-qs-')), 'qs');
const name = `qst${process.pid % 1000}`;
let env: Record<string, string> = {};

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port with 5 free ports after it (and 5 more for /metrics). */
async function freeRange(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const base = 30_000 + Math.floor(Math.random() * 20_000);
    let ok = true;
    for (let p = base; p < base + 10 && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error('no 10 consecutive free ports');
}

function script(verb: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(REPO_ROOT, 'scripts/quickstart.sh'), verb], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

test.after.always(async () => {
  if (existsSync(state)) await script('down');
  rmSync(join(state, '..'), { recursive: true, force: true });
});

test.serial('quickstart up: 5 nodes, the demo stack running on the two workers; down removes everything', async (t) => {
  if (process.getuid?.() !== 0) {
    t.fail('the quickstart needs root (containerd, runc)');
    return;
  }
  t.timeout(8 * 60_000);
  const base = await freeRange();
  env = {
    SHOAL_QUICKSTART_DIR: state,
    SHOAL_QUICKSTART_PORT: String(base),
    SHOAL_QUICKSTART_METRICS_PORT: String(base + 5),
    SHOAL_QUICKSTART_NAME: name,
    SHOAL_QUICKSTART_SUBNET: '232', // bridges 232 and 233: test/e2e/_e2e.ts uses 241–244, the quickstart's default 236–237
  };
  if (existsSync(join(REPO_ROOT, 'packages/cli/dist/main.js')) && existsSync(join(REPO_ROOT, 'packages/daemon/dist/main.js'))) env['SHOAL_QUICKSTART_SKIP_BUILD'] = '1';
  const up = await script('up');
  t.is(up.code, 0, up.out);
  // what the user sees: the nodes, the stack's services converged, the tasks, how to reach and stop it
  t.regex(up.out, new RegExp(`^\\w+\\s+${name}-w1\\s+Ready\\s+Active`, 'm'));
  t.regex(up.out, new RegExp(`^\\w+\\s+${name}-m1\\s+Ready\\s+Drain\\s+Leader`, 'm'));
  t.regex(up.out, /^\w+\s+demo_web\s+replicated\s+3\/3\s+shoal-test\/busybox:1/m);
  t.regex(up.out, /^\w+\s+demo_worker\s+replicated\s+2\/2\s/m);
  t.regex(up.out, /^\w+\s+demo_cache\s+replicated\s+1\/1\s/m);
  t.regex(up.out, /^\w+\s+demo_web\.1\s+shoal-test\/busybox:1\s+\S+-w[12]\s+Running\s+Running/m);
  t.true(up.out.includes(`export SHOAL_HOST=unix:${state}/m1/control.sock`), up.out);
  t.regex(up.out, /quickstart\.sh down/);

  // the cluster answers as printed, through another manager too; tasks run on the workers only
  const host = { SHOAL_HOST: `unix:${state}/m2/control.sock` };
  const ps = await shoal(['stack', 'ps', 'demo', '--format', 'json'], { env: host });
  t.is(ps.code, 0, ps.stderr);
  const nodes = await shoal(['node', 'ls', '--format', 'json'], { env: host });
  const byId = new Map((JSON.parse(nodes.stdout) as Array<{ id: string; description: { hostname: string } }>).map((n) => [n.id, n.description.hostname]));
  const running = (JSON.parse(ps.stdout) as Array<{ nodeId: string; desiredState: string; status: { state: string; container?: { containerId?: string } } }>)
    .filter((x) => x.desiredState === 'RUNNING' && x.status.state === 'RUNNING');
  t.true(running.length >= 6, `${running.length} tasks running`);
  t.true(running.every((x) => /-w[12]$/.test(byId.get(x.nodeId) ?? '')), 'only workers run tasks');
  t.true(running.every((x) => Boolean(x.status.container?.containerId)), 'every running task is a real container');

  const pids = ['m1', 'm2', 'm3', 'w1', 'w2'].map((n) => Number(readFileSync(join(state, `${n}.pid`), 'utf8')));
  const down = await script('down');
  t.is(down.code, 0, down.out);
  t.regex(down.out, /stopped 5 shoald process/);
  t.false(existsSync(state), 'state dir removed');
  t.false(existsSync(`/run/shoal-test/${name}-w1`) || existsSync(`/var/lib/shoal-test/${name}-w2`), 'containerd instances removed');
  const alive = pids.filter((p) => {
    try {
      process.kill(p, 0);
      return true;
    } catch {
      return false;
    }
  });
  t.deepEqual(alive, [], 'no shoald left');
});
