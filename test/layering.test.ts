// The layering check must catch what ARCHITECTURE.md forbids; run it on small fixture trees.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../scripts/check-layering.mjs', import.meta.url));

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-layers-'));
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), body);
  }
  return dir;
}

function check(dir: string): { code: number | null; err: string } {
  const r = spawnSync(process.execPath, [script, '--root', dir], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  return { code: r.status, err: r.stderr };
}

const pkg = (name: string, deps: Record<string, string> = {}) => JSON.stringify({ name: `@shoal/${name}`, dependencies: deps });

test('the real repository passes', (t) => {
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
});

test('agent importing manager is refused, naming the file and the rule', (t) => {
  const r = check(
    tree({
      'packages/agent/package.json': pkg('agent'),
      'packages/agent/src/index.ts': "import { x } from '@shoal/manager';\nexport const y = x;\n",
      'packages/manager/package.json': pkg('manager'),
      'packages/manager/src/index.ts': 'export const x = 1;\n',
    }),
  );
  t.is(r.code, 1);
  t.regex(r.err, /packages\/agent\/src\/index\.ts imports @shoal\/manager: agent must never import manager/);
});

test('store depending on raft in package.json is refused', (t) => {
  const r = check(tree({ 'packages/store/package.json': pkg('store', { '@shoal/raft': '0.1.0' }), 'packages/store/src/index.ts': '' }));
  t.is(r.code, 1);
  t.regex(r.err, /packages\/store\/package\.json depends on @shoal\/raft/);
});

test('the cli reaching into manager internals by relative path is refused', (t) => {
  const r = check(
    tree({
      'packages/cli/package.json': pkg('cli'),
      'packages/cli/src/index.ts': "import '../../manager/src/index.js';\n",
      'packages/manager/package.json': pkg('manager'),
      'packages/manager/src/index.ts': '',
    }),
  );
  t.is(r.code, 1);
  t.regex(r.err, /reaching into another package by relative path/);
});

test('an import cycle inside a package is reported with its path', (t) => {
  const r = check(
    tree({
      'packages/store/package.json': pkg('store'),
      'packages/store/src/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'packages/store/src/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
    }),
  );
  t.is(r.code, 1);
  t.regex(r.err, /import cycle in packages\/store: packages\/store\/src\/a\.ts -> packages\/store\/src\/b\.ts -> packages\/store\/src\/a\.ts/);
});

test('a type-only import does not form a run-time cycle, but still counts for layering', (t) => {
  const ok = check(
    tree({
      'packages/raft/package.json': pkg('raft'),
      'packages/raft/src/a.ts': "import type { B } from './b.js';\nexport class A { b?: B }\n",
      'packages/raft/src/b.ts': "import { A } from './a.js';\nexport class B { a = new A() }\n",
    }),
  );
  t.is(ok.code, 0, ok.err);
  const bad = check(
    tree({
      'packages/agent/package.json': pkg('agent'),
      'packages/agent/src/index.ts': "import type { Store } from '@shoal/store';\nexport type S = Store;\n",
    }),
  );
  t.is(bad.code, 1);
  t.regex(bad.err, /agent must never import store/);
});
