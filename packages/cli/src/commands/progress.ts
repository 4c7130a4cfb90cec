// Waiting for services to converge, with a live display per service on a TTY and plain lines otherwise.
import { ListFilters, ListTasksRequest, TaskState, UpdateState, type Service } from '@shoal/api';
import type { Control } from '../client.js';
import { CliError } from '../errors.js';
import { replicasColumn } from './views.js';

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
  out?: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>;
  /** an update that rolled back (after a failure) is an error, not convergence (stack deploy) */
  failOnRollback?: boolean;
}

/** What a service's update is doing, for its progress line ("" when no update runs). */
export function updateProgress(s: Service, desired: number): string {
  const u = s.updateStatus;
  const msg = u?.message ? `: ${u.message}` : '';
  switch (u?.state) {
    case UpdateState.UPDATING:
      return ` (updating: ${u.updated.length}/${desired} updated)`;
    case UpdateState.PAUSED:
      return ` (update paused${msg})`;
    case UpdateState.ROLLBACK_STARTED:
      return ` (rolling back${msg})`;
    case UpdateState.ROLLBACK_PAUSED:
      return ` (rollback paused${msg})`;
    case UpdateState.ROLLBACK_COMPLETED:
      return ` (rolled back${msg})`;
    case UpdateState.CANARY_WAITING:
      return ' (canary waiting for promotion)';
    default:
      return '';
  }
}

function converged(s: Service, running: number, desired: number): boolean {
  const st = s.updateStatus?.state;
  if (st === UpdateState.UPDATING || st === UpdateState.ROLLBACK_STARTED) return false;
  return running >= desired;
}

/** Poll services and their tasks until every service runs its desired tasks (or a timeout). */
export async function waitForServices(c: Control, ids: readonly string[], opts: WaitOptions = {}): Promise<void> {
  if (ids.length === 0) return;
  const out = opts.out ?? process.stdout;
  const tty = out.isTTY === true;
  const deadline = Date.now() + (opts.timeoutMs ?? 5 * 60_000);
  const last = new Map<string, string>();
  let drawn = 0;
  for (;;) {
    const { services } = await c.call('listServices', { filters: ListFilters.fromJSON({ idPrefixes: ids }), read: { linearizable: true } }); // a follower may not have applied our writes yet
    const req = ListTasksRequest.fromJSON({});
    req.read = { linearizable: true };
    req.serviceIds = [...ids];
    const { tasks } = await c.call('listTasks', req);
    let done = true;
    const lines: string[] = [];
    const failures: string[] = [];
    // a service we just created or updated must be listed before it can count as converged
    if (ids.some((id) => !services.some((x) => x.id === id))) done = false;
    for (const s of services.filter((x) => ids.includes(x.id))) {
      const mode = s.spec?.mode;
      const mine = tasks.filter((t) => t.serviceId === s.id);
      const failed = mine.filter((t) => t.status?.state === TaskState.FAILED || t.status?.state === TaskState.REJECTED).at(-1);
      const isJob = mode?.$case === 'replicatedJob' || mode?.$case === 'globalJob';
      const running = mine.filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).length;
      const desired = mode?.$case === 'replicated' ? mode.replicated.replicas : mine.filter((t) => t.desiredState === TaskState.RUNNING).length;
      const st = s.updateStatus?.state;
      const stuck = st === UpdateState.PAUSED || st === UpdateState.ROLLBACK_PAUSED || (opts.failOnRollback === true && st === UpdateState.ROLLBACK_COMPLETED);
      const ok = !stuck && (isJob || converged(s, running, desired));
      if (!ok) done = false;
      // an old failure is history once the service runs what it should
      const extra = updateProgress(s, desired) || (!ok && failed?.status?.err ? ` (last error: ${failed.status.err})` : '');
      const line = `${s.spec?.annotations?.name ?? s.id}: ${replicasColumn(s, tasks)} ${stuck ? 'failed' : ok ? 'converged' : 'running'}${extra}`;
      lines.push(line);
      if (stuck) failures.push(line);
    }
    if (tty) {
      if (drawn) out.write(`\x1b[${drawn}A`);
      for (const l of lines) out.write(`\x1b[2K${l}\n`);
      drawn = lines.length;
    } else {
      for (const l of lines) {
        const name = l.split(':')[0]!;
        if (last.get(name) !== l) out.write(`${l}\n`);
        last.set(name, l);
      }
    }
    if (failures.length) throw new CliError(`the update did not converge: ${failures.join('; ')}`);
    if (done) return;
    if (Date.now() > deadline) throw new CliError('timed out waiting for services to converge (they keep converging in the background)');
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
  }
}
