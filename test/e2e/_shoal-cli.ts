// Run the `shoal` CLI the way a user does: a separate node process (the TypeScript sources through
// tsx, or the built bin), stdout and stderr captured, exit code returned.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@shoal/testkit';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Newest modification time of the files under `dir` (0 when it does not exist). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/**
 * SHOAL_CLI=dist runs the built bin, =src the sources through tsx; by default the built bin when
 * the build is newer than the sources of the CLI and the API (it starts twice as fast), else the
 * sources.
 */
function cliCommand(): string[] {
  const bin = join(REPO_ROOT, 'packages/cli/bin/shoal.js');
  const src = ['--import', 'tsx', '--conditions=shoal-src', join(REPO_ROOT, 'packages/cli/src/main.ts')];
  const mode = process.env['SHOAL_CLI'] ?? 'auto';
  const built = (pkg: string): number => (existsSync(join(REPO_ROOT, pkg, 'dist')) ? newest(join(REPO_ROOT, pkg, 'dist')) : 0);
  if (mode === 'dist') return [bin];
  if (mode === 'auto' && built('packages/cli') > newest(join(REPO_ROOT, 'packages/cli/src')) && built('packages/api') > newest(join(REPO_ROOT, 'packages/api/src'))) return [bin];
  return src;
}

let chosen: string[] | undefined;

export function shoal(args: readonly string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(chosen ??= cliCommand()), ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, SHOAL_HOST: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 150_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** A readable account of a CLI run for assertion messages. */
export function show(args: readonly string[], r: CliResult): string {
  return `shoal ${args.join(' ')} -> exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}
