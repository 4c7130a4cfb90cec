// A private containerd for tests and benchmarks on the CRI runtime (scripts/runtime/*.sh; root).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './process.js';

const run = promisify(execFile);

export interface PrivateContainerd {
  name: string;
  socket: string;
  /** cgroup parent for a node's task pods that containerd-down.sh cleans up */
  cgroupParent(node: string): string;
  down(): Promise<void>;
}

/** Start (idempotently) containerd instance NAME; fails with what to do when it cannot. */
export async function containerdUp(name: string): Promise<PrivateContainerd> {
  if (process.getuid?.() !== 0) throw new Error('the CRI runtime needs root (the test starts containerd and runc)');
  try {
    const { stdout } = await run('bash', [join(REPO_ROOT, 'scripts/runtime/containerd-up.sh'), name], { timeout: 120_000 });
    const socket = stdout.trim().split('\n').pop() ?? '';
    return {
      name,
      socket,
      cgroupParent: (node) => `/shoal/${name}/${node}`,
      down: async () => {
        await run('bash', [join(REPO_ROOT, 'scripts/runtime/containerd-down.sh'), name], { timeout: 120_000 });
      },
    };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`containerd-up.sh ${name} failed: ${err.stderr || err.message}`);
  }
}
