#!/usr/bin/env node
// `npm run bench -- NAME [args…]` runs bench/NAME.ts; with no NAME, lists the benchmarks.
// Every benchmark prints JSON; its last line is one JSON object summarising the run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const benchDir = join(root, 'bench');
const [name, ...rest] = process.argv.slice(2);
const available = readdirSync(benchDir).filter((f) => f.endsWith('.ts') && !f.startsWith('_')).map((f) => f.slice(0, -3));
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [options]`);
  process.exit(name ? 2 : 0);
}
const file = join(benchDir, `${name}.ts`);
if (!existsSync(file)) process.exit(2);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=shoal-src', file, ...rest], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
