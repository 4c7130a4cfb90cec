#!/usr/bin/env node
// Enforces the layering rules of ARCHITECTURE.md ("never break these") and the absence of import
// cycles, between packages and between the files of each package. Exits 1 with one line per breach.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const rootArg = process.argv.indexOf('--root');
const root = rootArg > 0 ? resolve(process.argv[rootArg + 1]) : fileURLToPath(new URL('..', import.meta.url));
const pkgsDir = join(root, 'packages');

// Which of our packages each package may import. Anything not listed is forbidden.
const ALLOWED = {
  api: [],
  raft: ['api'],
  store: ['api'],
  runtime: ['api'],
  network: ['api'],
  manager: ['api', 'raft', 'store'],
  agent: ['api', 'runtime', 'network'],
  daemon: ['api', 'raft', 'store', 'manager', 'agent', 'runtime', 'network'],
  cli: ['api'],
  testkit: ['api', 'raft', 'store', 'runtime', 'network', 'manager', 'agent', 'daemon', 'cli'],
};
// Why each rule exists, for the error message.
const WHY = {
  raft: 'raft knows nothing about what its entries mean',
  store: 'store is handed a Proposer and never imports raft',
  agent: 'the agent sees managers only through gRPC',
  runtime: 'runtime never imports agent or manager',
  network: 'network never imports agent or manager',
  cli: 'the CLI speaks only the Control API',
  api: 'api depends on nothing of ours',
  manager: 'only the daemon wires manager and agent together',
};

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    if (n === 'node_modules' || n === 'dist') return [];
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : /\.(ts|mts|js|mjs)$/.test(n) && !n.endsWith('.d.ts') ? [p] : [];
  });
}

const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
// Every import, with whether it is type-only (erased at run time: it counts for the layering
// rules but cannot form a run-time import cycle).
function importsOf(file) {
  const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out = [];
  for (const m of src.matchAll(IMPORT_RE)) out.push({ spec: m[2] ?? m[3], typeOnly: !!m[1] });
  return out;
}

const errors = [];
const pkgs = readdirSync(pkgsDir).filter((p) => existsSync(join(pkgsDir, p, 'package.json')));
const pkgGraph = new Map(pkgs.map((p) => [p, new Set()]));

for (const pkg of pkgs) {
  const allowed = ALLOWED[pkg];
  if (!allowed) {
    errors.push(`packages/${pkg}: no layering rule for this package: add it to scripts/check-layering.mjs`);
    continue;
  }
  const deps = JSON.parse(readFileSync(join(pkgsDir, pkg, 'package.json'), 'utf8')).dependencies ?? {};
  for (const d of Object.keys(deps)) {
    const m = /^@shoal\/(.+)$/.exec(d);
    if (m && !allowed.includes(m[1])) errors.push(`packages/${pkg}/package.json depends on ${d}: not allowed (${WHY[pkg] ?? 'layering'})`);
  }
  const fileGraph = new Map();
  const srcFiles = walk(join(pkgsDir, pkg, 'src'));
  for (const file of [...srcFiles, ...walk(join(pkgsDir, pkg, 'test'))]) {
    const rel = relative(root, file);
    const edges = [];
    for (const { spec, typeOnly } of importsOf(file)) {
      const m = /^@shoal\/([^/]+)/.exec(spec);
      if (m) {
        const target = m[1];
        if (target === pkg) continue;
        // tests may use testkit; src may not reach beyond its rule
        const ok = allowed.includes(target) || (file.includes('/test/') && target === 'testkit');
        if (!ok) errors.push(`${rel} imports ${spec}: ${pkg} must never import ${target} (${WHY[pkg] ?? 'layering'})`);
        if (srcFiles.includes(file)) pkgGraph.get(pkg).add(target);
      } else if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        if (/\/packages\/[^/]+\//.test(target) && !target.startsWith(join(pkgsDir, pkg) + '/')) {
          errors.push(`${rel} imports ${spec}: reaching into another package by relative path; import its package name`);
        }
        if (!typeOnly) edges.push(target);
      }
    }
    fileGraph.set(file, edges);
  }
  // cycles among the package's source files
  for (const cycle of findCycles(new Map([...fileGraph].filter(([f]) => srcFiles.includes(f))))) {
    errors.push(`import cycle in packages/${pkg}: ${cycle.map((f) => relative(root, f)).join(' -> ')}`);
  }
}
for (const cycle of findCycles(new Map([...pkgGraph].map(([k, v]) => [k, [...v]])))) {
  errors.push(`import cycle between packages: ${cycle.join(' -> ')}`);
}

function findCycles(graph) {
  const state = new Map();
  const stack = [];
  const cycles = [];
  const visit = (n) => {
    state.set(n, 1);
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (!graph.has(m)) continue;
      if (state.get(m) === 1) cycles.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n);
  return cycles;
}

if (errors.length) {
  for (const e of errors) console.error(`layering: ${e}`);
  console.error(`layering: ${errors.length} breach(es)`);
  process.exit(1);
}
console.log(`layering: ok (${pkgs.length} packages, rules of ARCHITECTURE.md, no import cycles)`);
