import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HollowRuntime, type Runtime } from '@shoal/runtime';
import { Agent, type AgentOptions } from '../../src/agent.js';
import { jsonLogger, silentLogger } from '../../src/log.js';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'shoal-agent-'));
}

/** A HollowRuntime that counts calls per method (to prove nothing was restarted). */
export function countingRuntime(opts: ConstructorParameters<typeof HollowRuntime>[0] = {}): { runtime: Runtime; hollow: HollowRuntime; counts: Map<string, number> } {
  const hollow = new HollowRuntime(opts);
  const counts = new Map<string, number>();
  const runtime = new Proxy(hollow, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        counts.set(String(prop), (counts.get(String(prop)) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Runtime;
  return { runtime, hollow, counts };
}

export function testAgent(o: Partial<AgentOptions> & Pick<AgentOptions, 'managers' | 'runtime' | 'dataDir'>): Agent {
  return new Agent({
    joinToken: 'join-token',
    hostname: 'worker-1',
    pollIntervalMs: 50,
    statusBatchMs: 50,
    backoffBaseMs: 50,
    backoffMaxMs: 400,
    rpcTimeoutMs: 3000,
    logger: process.env['SHOAL_TEST_LOGS'] ? jsonLogger({ test: true }, { level: 'debug' }) : silentLogger,
    ...o,
  });
}
