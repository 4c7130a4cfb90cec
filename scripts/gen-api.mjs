#!/usr/bin/env node
// Regenerates packages/api/src/gen from proto/ with protoc + ts-proto (protobufjs runtime).
// `--check` regenerates into a temporary folder and fails if the committed code differs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const check = process.argv.includes('--check');
const protoDir = join(root, 'proto');
const committed = join(root, 'packages/api/src/gen');
const out = check ? mkdtempSync(join(tmpdir(), 'shoal-gen-')) : committed;

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const protos = walk(protoDir).filter((p) => p.endsWith('.proto')).map((p) => relative(protoDir, p)).sort();
if (!check) {
  rmSync(out, { recursive: true, force: true });
}
mkdirSync(out, { recursive: true });
const plugin = join(root, 'node_modules/.bin/protoc-gen-ts_proto');
const opts = [
  'esModuleInterop=true',
  'forceLong=number',
  'outputServices=grpc-js',
  'env=node',
  'useDate=string',
  'oneof=unions',
  'importSuffix=.js',
  'useOptionals=messages',
  'exportCommonSymbols=false',
  'stringEnums=false',
  'removeEnumPrefix=false',
].join(',');
try {
  execFileSync('protoc', [`--plugin=protoc-gen-ts_proto=${plugin}`, `--ts_proto_out=${out}`, `--ts_proto_opt=${opts}`, `-I${protoDir}`, ...protos], {
    stdio: 'inherit',
  });
} catch (e) {
  console.error('gen: protoc failed (is protobuf-compiler installed? apt-get install protobuf-compiler)');
  process.exit(1);
}

if (check) {
  const a = walk(out).map((p) => relative(out, p)).sort();
  const b = existsSync(committed) ? walk(committed).map((p) => relative(committed, p)).sort() : [];
  const diffs = [];
  for (const f of new Set([...a, ...b])) {
    const x = a.includes(f) ? readFileSync(join(out, f), 'utf8') : null;
    const y = b.includes(f) ? readFileSync(join(committed, f), 'utf8') : null;
    if (x !== y) diffs.push(f);
  }
  rmSync(out, { recursive: true, force: true });
  if (diffs.length) {
    console.error(`gen:check: generated code is stale for: ${diffs.join(', ')}\nrun \`npm run gen\` and commit the result`);
    process.exit(1);
  }
  console.log(`gen:check: ${a.length} generated files up to date`);
} else {
  console.log(`gen: wrote ${protos.length} protos into ${relative(root, out)}`);
}
