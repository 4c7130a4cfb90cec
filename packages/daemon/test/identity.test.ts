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
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdentityError, readIdentity, writeIdentity, type NodeIdentityFile } from '../src/identity.js';

const dir = (): string => keep(mkdtempSync(join(tmpdir(), 'shoald-id-')));

const manager: NodeIdentityFile = {
  nodeId: 'n1',
  clusterId: 'c1',
  role: 'manager',
  raftId: 1,
  addrs: { listen: '127.0.0.1:4242', advertise: '127.0.0.1:4242', managers: ['127.0.0.1:4242'] },
};

test('an identity round-trips through node.json and leaves no temp file', (t) => {
  const d = dir();
  t.is(readIdentity(d), undefined);
  writeIdentity(d, manager);
  t.deepEqual(readIdentity(d), manager);
  writeIdentity(d, { ...manager, addrs: { ...manager.addrs, managers: ['a:1', 'b:2'] } });
  t.deepEqual(readIdentity(d)?.addrs.managers, ['a:1', 'b:2']);
  t.deepEqual(readdirSync(d), ['node.json']);
});

test('a worker needs no raft id; a manager does', (t) => {
  const d = dir();
  const { raftId: _r, ...worker } = manager;
  writeIdentity(d, { ...worker, role: 'worker' });
  t.is(readIdentity(d)?.role, 'worker');
  t.throws(() => writeIdentity(d, { ...worker, role: 'manager' }), { instanceOf: IdentityError, message: /raftId/ });
});

test('a corrupt or incomplete node.json is refused with the file named', (t) => {
  const d = dir();
  writeFileSync(join(d, 'node.json'), '{"nodeId": "x", ');
  t.throws(() => readIdentity(d), { instanceOf: IdentityError, message: /node\.json is not valid JSON/ });
  writeFileSync(join(d, 'node.json'), JSON.stringify({ nodeId: 'x', clusterId: 'c', role: 'boss', addrs: {} }));
  t.throws(() => readIdentity(d), { instanceOf: IdentityError, message: /role/ });
});
