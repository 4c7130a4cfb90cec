// shoald's command line: routing (plain --data-dir is `run`), refusals with clear messages.
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
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

function shoald(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=shoal-src', MAIN, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SHOAL_LOG_FORMAT: 'json' } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('plain `shoald --data-dir DIR` restarts from DIR (and says what is missing)', (t) => {
  const dir = keep(mkdtempSync(join(tmpdir(), 'shoald-cli-')));
  const r = shoald('--data-dir', dir);
  t.is(r.code, 1);
  t.regex(r.out, /holds no node identity \(node\.json\): create one with "shoald init" or "shoald join"/);
});

test('init refuses a data dir that already holds a node', (t) => {
  const dir = keep(mkdtempSync(join(tmpdir(), 'shoald-cli-')));
  writeFileSync(
    join(dir, 'node.json'),
    JSON.stringify({ nodeId: 'n1', clusterId: 'c1', role: 'worker', addrs: { listen: '127.0.0.1:1', advertise: '127.0.0.1:1', managers: [] } }),
  );
  const r = shoald('init', '--data-dir', dir, '--runtime', 'hollow');
  t.is(r.code, 1);
  t.regex(r.out, /already holds node n1 of cluster c1 \(worker\); use "shoald run --data-dir/);
});

test('bad flags are refused naming the flag', (t) => {
  const dir = keep(mkdtempSync(join(tmpdir(), 'shoald-cli-')));
  t.regex(shoald('init', '--data-dir', dir, '--listen-addr', 'localhost').out, /--listen-addr: "localhost" is not host:port/);
  t.regex(shoald('init', '--data-dir', dir, '--runtime', 'docker').out, /--runtime.*docker.*is invalid|Allowed choices are cri, hollow/);
  t.regex(shoald('join', '--data-dir', dir, '127.0.0.1:1').out, /required option '--token <token>' not specified/);
});
