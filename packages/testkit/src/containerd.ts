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

export interface ContainerdUpOptions {
  /**
   * x of the node-local bridge subnet 10.213.x.0/24 (and bridge name shoal<x>). By default it is
   * derived from NAME (20..219), so instances that run at the same time may collide; tests that
   * start several instances pass distinct values of 220..254.
   */
  subnetIndex?: number;
}

/** Start (idempotently) containerd instance NAME; fails with what to do when it cannot. */
export async function containerdUp(name: string, opts: ContainerdUpOptions = {}): Promise<PrivateContainerd> {
  if (process.getuid?.() !== 0) throw new Error('the CRI runtime needs root (the test starts containerd and runc)');
  const env = { ...process.env };
  if (opts.subnetIndex !== undefined) env['SHOAL_SUBNET_INDEX'] = String(opts.subnetIndex);
  try {
    const { stdout } = await run('bash', [join(REPO_ROOT, 'scripts/runtime/containerd-up.sh'), name], { timeout: 120_000, env });
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
