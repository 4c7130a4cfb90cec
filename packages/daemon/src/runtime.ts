// Builds the node's container runtime from the config: containerd over CRI, or the hollow runtime
// (containers that only pretend; for tests and scale benchmarks).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CriRuntime, HollowRuntime, type Runtime } from '@shoal/runtime';
import type { DaemonConfig } from './config.js';

export function createRuntime(c: DaemonConfig, nodeId: string): Runtime {
  if (c.runtime === 'hollow') {
    // A stable seed per node keeps hollow runs reproducible.
    let seed = 1;
    for (const ch of nodeId) seed = (seed * 31 + ch.charCodeAt(0)) >>> 0;
    return new HollowRuntime({ seed });
  }
  const stateRoot = join(c.dataDir, 'runtime');
  mkdirSync(stateRoot, { recursive: true });
  return new CriRuntime({
    endpoint: c.containerdSocket,
    stateRoot,
    cgroupRoot: c.cgroupParent || `/shoal/${nodeId}`,
    nodeId,
  });
}
