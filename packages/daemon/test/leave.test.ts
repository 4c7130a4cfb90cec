// shoald leave with no daemon running on the data dir: the command itself decides and drops the
// node state (the running-daemon path is tested on a real cluster in test/integration/leave*).
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../src/config.js';
import { writeIdentity, type NodeIdentityFile } from '../src/identity.js';
import { LeaveError, leaveCommand, MANAGER_REFUSAL, PID_FILE, runningPid } from '../src/leave.js';
import { daemonLogger } from '../src/log.js';

const tmpDirs: string[] = [];
test.after.always(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});
const log = daemonLogger({}, { level: 'error', format: 'json' });

function nodeDir(role: 'manager' | 'worker'): string {
  const d = mkdtempSync(join(tmpdir(), 'shoald-leave-'));
  tmpDirs.push(d);
  const id: NodeIdentityFile = {
    nodeId: 'n1',
    clusterId: 'c1',
    role,
    ...(role === 'manager' ? { raftId: 1 } : {}),
    addrs: { listen: '127.0.0.1:4242', advertise: '127.0.0.1:4242', managers: ['127.0.0.1:4242'] },
  };
  writeIdentity(d, id);
  writeFileSync(join(d, 'config.json'), '{}\n');
  writeFileSync(join(d, 'join-token'), 'SWMTKN-1-x\n');
  mkdirSync(join(d, 'agent', 'agent-db'), { recursive: true });
  mkdirSync(join(d, 'manager', 'raft'), { recursive: true });
  return d;
}

test('a stopped worker leaves: its node state is dropped, other files stay', async (t) => {
  const d = nodeDir('worker');
  writeFileSync(join(d, 'notes.txt'), 'mine\n');
  // a pid file left by a killed daemon, naming a process that is gone
  writeFileSync(join(d, PID_FILE), '2147483646\n');
  t.is(runningPid(d), undefined);
  t.is(await leaveCommand(d, false, log), 'n1');
  t.deepEqual(readdirSync(d), ['notes.txt']);
});

test('a stopped manager is refused without --force and keeps everything', async (t) => {
  const d = nodeDir('manager');
  const before = readdirSync(d).sort();
  const err = await t.throwsAsync(leaveCommand(d, false, log), { instanceOf: LeaveError });
  t.is(err!.message, MANAGER_REFUSAL);
  t.deepEqual(readdirSync(d).sort(), before);
});

test('a stopped single manager leaves with --force (no other manager to tell)', async (t) => {
  const d = nodeDir('manager');
  t.is(await leaveCommand(d, true, log), 'n1');
  t.false(existsSync(join(d, 'node.json')));
  t.false(existsSync(join(d, 'manager')));
});

test('a data dir without a node is not part of a swarm', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'shoald-leave-'));
  tmpDirs.push(d);
  const err = await t.throwsAsync(leaveCommand(d, false, log), { instanceOf: ConfigError });
  t.regex(err!.message, /not part of a swarm/);
});
