// Waiting for services to converge, with a live display per service on a TTY and plain lines otherwise.
import { ListFilters, ListTasksRequest, TaskState, UpdateState, type Service } from '@shoal/api';
import type { Control } from '../client.js';
import { CliError } from '../errors.js';
import { replicasColumn } from './views.js';

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
  out?: NodeJS.WriteStream;
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
    const { services } = await c.call('listServices', { filters: ListFilters.fromJSON({ idPrefixes: ids }), read: undefined });
    const req = ListTasksRequest.fromJSON({});
    req.serviceIds = [...ids];
    const { tasks } = await c.call('listTasks', req);
    let done = true;
    const lines: string[] = [];
    for (const s of services.filter((x) => ids.includes(x.id))) {
      const mode = s.spec?.mode;
      const mine = tasks.filter((t) => t.serviceId === s.id);
      const failed = mine.filter((t) => t.status?.state === TaskState.FAILED || t.status?.state === TaskState.REJECTED).at(-1);
      const isJob = mode?.$case === 'replicatedJob' || mode?.$case === 'globalJob';
      const running = mine.filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).length;
      const desired = mode?.$case === 'replicated' ? mode.replicated.replicas : mine.filter((t) => t.desiredState === TaskState.RUNNING).length;
      const ok = isJob || converged(s, running, desired);
      if (!ok) done = false;
      // an old failure is history once the service runs what it should
      const extra = s.updateStatus?.state === UpdateState.CANARY_WAITING ? ' (canary waiting for promotion)' : !ok && failed?.status?.err ? ` (last error: ${failed.status.err})` : '';
      lines.push(`${s.spec?.annotations?.name ?? s.id}: ${replicasColumn(s, tasks)} ${ok ? 'converged' : 'running'}${extra}`);
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
    if (done) return;
    if (Date.now() > deadline) throw new CliError('timed out waiting for services to converge (they keep converging in the background)');
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
  }
}
