// Container health checks (Docker's HEALTHCHECK semantics) run through runtime.exec.
// The monitor holds no timers: the task controller asks it when the next probe is due and
// runs it from its RUNNING step, so tests drive it with a manual clock.
import { durationMs, HealthState, ShoalError, type ContainerSpec } from '@shoal/api';
import type { ContainerHandle, Runtime } from '@shoal/runtime';
import { errorMessage } from './log.js';

export const HEALTH_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 } as const;

export interface HealthSpec {
  cmd: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

/** The health check of a container spec, or undefined when there is none (or it is ["NONE"]). */
export function healthSpecOf(c: ContainerSpec | undefined): HealthSpec | undefined {
  const h = c?.healthcheck;
  if (!h || h.test.length === 0) return undefined;
  const [kind, ...rest] = h.test;
  let cmd: string[];
  if (kind === 'NONE') return undefined;
  if (kind === 'CMD') cmd = rest;
  else if (kind === 'CMD-SHELL') cmd = ['/bin/sh', '-c', rest.join(' ')];
  else throw new ShoalError('InvalidArgument', `healthcheck test must start with NONE, CMD or CMD-SHELL, got "${kind}"`, { field: 'spec.container.healthcheck.test' });
  if (cmd.length === 0 || cmd.every((a) => a === '')) {
    throw new ShoalError('InvalidArgument', 'healthcheck test has no command', { field: 'spec.container.healthcheck.test' });
  }
  const pos = (ms: number, dflt: number): number => (ms > 0 ? ms : dflt);
  return {
    cmd,
    intervalMs: pos(durationMs(h.interval), HEALTH_DEFAULTS.intervalMs),
    timeoutMs: pos(durationMs(h.timeout), HEALTH_DEFAULTS.timeoutMs),
    retries: h.retries > 0 ? h.retries : HEALTH_DEFAULTS.retries,
    startPeriodMs: Math.max(0, durationMs(h.startPeriod)),
  };
}

export interface ProbeResult {
  ok: boolean;
  output: string;
}

/** Tracks one running container's health: STARTING until the first success or `retries` failures. */
export class HealthMonitor {
  state: HealthState = HealthState.HEALTH_STARTING;
  failingStreak = 0;
  lastOutput = '';
  /** When the next probe is due (ms since the epoch). */
  nextDue: number;
  private readonly startedAt: number;

  constructor(
    readonly spec: HealthSpec,
    startedAt: number,
  ) {
    this.startedAt = startedAt;
    this.nextDue = startedAt + spec.intervalMs;
  }

  /** Runs one probe. Failures inside the start period do not count; a success there counts. */
  async probe(runtime: Runtime, handle: ContainerHandle, now: number): Promise<HealthState> {
    let result: ProbeResult;
    try {
      const r = await runtime.exec(handle, this.spec.cmd, this.spec.timeoutMs);
      result = { ok: r.exitCode === 0, output: (r.stdout + r.stderr).slice(0, 4096) };
    } catch (err) {
      result = { ok: false, output: errorMessage(err) };
    }
    this.record(result, now);
    return this.state;
  }

  record(result: ProbeResult, now: number): void {
    this.lastOutput = result.output;
    this.nextDue = now + this.spec.intervalMs;
    if (result.ok) {
      this.failingStreak = 0;
      this.state = HealthState.HEALTHY;
      return;
    }
    if (this.state !== HealthState.HEALTHY && now < this.startedAt + this.spec.startPeriodMs) return;
    this.failingStreak++;
    if (this.failingStreak >= this.spec.retries) this.state = HealthState.UNHEALTHY;
  }
}
