// Effective update/rollback settings of a service, with the defaults of ARCHITECTURE.md:
// parallelism 1, delay 0 s, failure action pause, monitor 5 s, max failure ratio 0, stop-first.
import { durationMs, UpdateFailureAction, UpdateOrder, UpdateState, type Service, type UpdateConfig } from '@shoal/api';

export const DEFAULT_MONITOR_MS = 5_000;

export interface EffectiveUpdateConfig {
  /** 0 = all at once */
  parallelism: number;
  delayMs: number;
  failureAction: UpdateFailureAction;
  monitorMs: number;
  maxFailureRatio: number;
  startFirst: boolean;
  canary: boolean;
  /** undefined = wait for `shoal service update --promote` */
  autoPromoteMs: number | undefined;
}

export function effectiveConfig(c: UpdateConfig | undefined): EffectiveUpdateConfig {
  const auto = c?.canary?.autoPromoteAfter;
  return {
    parallelism: c?.parallelism ?? 1,
    delayMs: durationMs(c?.delay, 0),
    failureAction: c?.failureAction ?? UpdateFailureAction.PAUSE_ON_FAILURE,
    monitorMs: durationMs(c?.monitor, DEFAULT_MONITOR_MS),
    maxFailureRatio: c?.maxFailureRatio ?? 0,
    startFirst: c?.order === UpdateOrder.START_FIRST,
    canary: c?.canary?.enabled ?? false,
    autoPromoteMs: auto ? durationMs(auto) : undefined,
  };
}

export const isRollback = (s: Service): boolean =>
  s.updateStatus?.state === UpdateState.ROLLBACK_STARTED || s.updateStatus?.state === UpdateState.ROLLBACK_PAUSED;

/** The settings that govern the service's current update: the rollback config while rolling back. */
export function configFor(s: Service): EffectiveUpdateConfig {
  return effectiveConfig(isRollback(s) ? s.spec?.rollback : s.spec?.update);
}
