// Brings up a private containerd instance for integration tests with scripts/runtime/*.sh.
// Never skips: without root or containerd the test fails with what to do about it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const run = promisify(execFile);
export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

export interface TestContainerd {
  name: string;
  socket: string;
  stateRoot: string;
  cgroupRoot: string;
  down(): Promise<void>;
}

async function which(bin: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${bin}`]);
    return true;
  } catch {
    return false;
  }
}

export async function startContainerd(name: string): Promise<TestContainerd> {
  if (process.getuid?.() !== 0) throw new Error('CRI integration tests must run as root (they start containerd and runc)');
  for (const bin of ['containerd', 'runc', 'ctr']) {
    if (!(await which(bin))) {
      throw new Error(`${bin} is not installed: run \`bash scripts/runtime/install.sh\` (as root) before the runtime integration tests`);
    }
  }
  try {
    const { stdout } = await run('bash', [join(REPO, 'scripts/runtime/containerd-up.sh'), name], { timeout: 120_000 });
    const socket = stdout.trim().split('\n').pop() ?? '';
    return {
      name,
      socket,
      stateRoot: `/var/lib/shoal-test/${name}/shoal`,
      cgroupRoot: `/shoal/${name}`,
      down: async () => {
        await run('bash', [join(REPO, 'scripts/runtime/containerd-down.sh'), name], { timeout: 120_000 });
      },
    };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`containerd-up.sh ${name} failed: ${err.stderr || err.message}`);
  }
}

/** Polls `check` until it returns a value (not undefined/false) or the deadline passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}
