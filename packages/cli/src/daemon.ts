// `swarm init/join/leave` hand over to the daemon: exec `shoald <verb> …` found next to the CLI
// (packages/daemon/bin/shoald.js), or say clearly that it is missing.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError } from './errors.js';

/** Where shoald is expected: SHOALD_BIN, else packages/daemon/bin/shoald.js beside packages/cli. */
export function shoaldPath(env: NodeJS.ProcessEnv = process.env): string {
  return env['SHOALD_BIN'] || fileURLToPath(new URL('../../daemon/bin/shoald.js', import.meta.url));
}

/** Run `shoald <args>` with inherited stdio; resolves with its exit code. */
export function execShoald(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const bin = shoaldPath(env);
  if (!existsSync(bin)) {
    return Promise.reject(new CliError(`the Shoal daemon is not installed: expected shoald at ${bin} (build packages/daemon, or set SHOALD_BIN)`));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: 'inherit', env });
    child.on('error', (e) => reject(new CliError(`cannot start shoald: ${e.message}`)));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
