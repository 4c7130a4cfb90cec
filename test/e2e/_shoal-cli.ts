// Run the `shoal` CLI the way a user does: a separate node process (the TypeScript sources through
// tsx, or the built bin with SHOAL_CLI=dist), stdout and stderr captured, exit code returned.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@shoal/testkit';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cliCommand(): string[] {
  const bin = join(REPO_ROOT, 'packages/cli/bin/shoal.js');
  if (process.env['SHOAL_CLI'] === 'dist' && existsSync(join(REPO_ROOT, 'packages/cli/dist/main.js'))) return [bin];
  return ['--import', 'tsx', '--conditions=shoal-src', join(REPO_ROOT, 'packages/cli/src/main.ts')];
}

export function shoal(args: readonly string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cliCommand(), ...args], {
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
