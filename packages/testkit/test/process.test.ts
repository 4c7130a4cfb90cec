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
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, REPO_ROOT } from '../src/process.js';
import { waitFor } from '../src/wait.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a shoald that cannot start exits non-zero and its log says why', async (t) => {
  const dir = keep(mkdtempSync(join(tmpdir(), 'shoal-tk-')));
  const n = new NodeProcess({ name: 'x1', role: 'worker', dataDir: join(dir, 'x1'), listenAddr: '127.0.0.1:1', metricsAddr: '127.0.0.1:2', flags: [] });
  n.run();
  const exit = await n.waitExit(30_000);
  t.is(exit.code, 1);
  t.regex(n.tailText(), /holds no node identity/);
  n.close();
});

test('children are killed when the test process exits', async (t) => {
  // A helper process starts a shoald that keeps retrying registration, prints its pid, then exits.
  const script = `
    import { NodeProcess } from ${JSON.stringify(join(REPO_ROOT, 'packages/testkit/src/process.ts'))};
    import { waitFor } from ${JSON.stringify(join(REPO_ROOT, 'packages/testkit/src/wait.ts'))};
    const dir = process.argv[1];
    const n = new NodeProcess({ name: 'w1', role: 'worker', dataDir: dir + '/w1', listenAddr: '127.0.0.1:1', metricsAddr: '127.0.0.1:2', flags: ['--runtime', 'hollow'] });
    n.join('SWMTKN-1-x', ['127.0.0.1:9']);
    await waitFor('shoald logs its first registration attempt', () => n.lines().some((l) => l.includes('registration')), 30000);
    console.log('PID', n.pid);
    process.exit(0);
  `;
  const dir = keep(mkdtempSync(join(tmpdir(), 'shoal-tk-')));
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=shoal-src', '--input-type=module', '-e', script, dir], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  const pid = Number(/PID (\d+)/.exec(out)?.[1]);
  t.true(pid > 0, `helper output: ${out}`);
  await waitFor(`shoald pid ${pid} is gone after its parent exited`, () => !alive(pid), 10_000);
  t.false(alive(pid));
});
