// depends_on as start order: before `stack deploy` creates or updates a service, it waits until
// each service it depends on meets the condition (started, healthy, or completed successfully).
import { HealthState, ListFilters, ListTasksRequest, TaskState, UpdateState, type Service, type Task } from '@shoal/api';
import type { Control } from '../client.js';
import type { DependsCondition } from '../compose/model.js';
import { CliError } from '../errors.js';
import { replicasColumn } from './views.js';

export interface Dependency {
  id: string;
  name: string;
  condition: DependsCondition;
}

export interface DependsWaitOptions {
  log: (line: string) => void;
  timeoutMs?: number;
  pollMs?: number;
}

/** Whether `s` (with its tasks) meets `condition`, and a word for the progress line. */
export function dependencyMet(s: Service, tasks: readonly Task[], condition: DependsCondition): { met: boolean; word: string } {
  const mine = tasks.filter((t) => t.serviceId === s.id);
  const live = mine.filter((t) => t.desiredState === TaskState.RUNNING);
  const running = live.filter((t) => t.status?.state === TaskState.RUNNING);
  const mode = s.spec?.mode;
  const updating = s.updateStatus?.state === UpdateState.UPDATING || s.updateStatus?.state === UpdateState.ROLLBACK_STARTED;
  const wanted = mode?.$case === 'replicated' ? mode.replicated.replicas : live.length;
  const started = !updating && running.length >= wanted && running.length === live.length;
  switch (condition) {
    case 'service_started':
      return { met: started, word: started ? 'converged' : 'starting' };
    case 'service_healthy': {
      const healthy = started && running.every((t) => t.status?.health === HealthState.HEALTHY || t.status?.health === HealthState.HEALTH_NONE);
      return { met: healthy, word: healthy ? 'healthy' : 'waiting to be healthy' };
    }
    case 'service_completed_successfully': {
      const jobs = mine.filter((t) => t.desiredState === TaskState.COMPLETE || t.status?.state === TaskState.COMPLETE);
      const done = jobs.filter((t) => t.status?.state === TaskState.COMPLETE).length;
      const total = mode?.$case === 'replicatedJob' ? mode.replicatedJob.totalCompletions : jobs.length;
      const met = jobs.length > 0 && done >= total && live.length === 0;
      return { met, word: met ? 'completed' : 'waiting to complete' };
    }
  }
}

/** Poll until every dependency meets its condition; plain progress lines on change. */
export async function waitForDependencies(c: Control, forService: string, deps: readonly Dependency[], o: DependsWaitOptions): Promise<void> {
  if (deps.length === 0) return;
  const deadline = Date.now() + (o.timeoutMs ?? 5 * 60_000);
  const ids = deps.map((d) => d.id);
  const last = new Map<string, string>();
  o.log(`Waiting for ${deps.map((d) => `${d.name} (${d.condition})`).join(', ')} before ${forService}`);
  for (;;) {
    const { services } = await c.call('listServices', { filters: ListFilters.fromJSON({ idPrefixes: ids }), read: { linearizable: true } }); // a follower may not have applied our writes yet
    const req = ListTasksRequest.fromJSON({});
    req.read = { linearizable: true };
    req.serviceIds = ids;
    const { tasks } = await c.call('listTasks', req);
    let all = true;
    for (const d of deps) {
      const s = services.find((x) => x.id === d.id);
      if (!s) throw new CliError(`service ${d.name} that ${forService} depends on was removed while waiting for it`);
      const { met, word } = dependencyMet(s, tasks, d.condition);
      if (!met) all = false;
      const line = `${d.name}: ${replicasColumn(s, tasks)} ${word}`;
      if (last.get(d.id) !== line) o.log(line);
      last.set(d.id, line);
    }
    if (all) return;
    if (Date.now() > deadline) throw new CliError(`timed out waiting for the dependencies of ${forService} (${deps.map((d) => `${d.name}: ${d.condition}`).join(', ')})`);
    await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
  }
}
