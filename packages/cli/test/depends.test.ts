import test from 'ava';
import { HealthState, Service, Task, TaskState, UpdateState, type ServiceSpec } from '@shoal/api';
import { dependencyMet } from '../src/commands/depends.js';
import { stack, valid } from './helpers.js';

const svc = (mode: 'replicated' | 'job', n: number, update?: UpdateState): Service => {
  const s = Service.fromPartial({ id: 's1', spec: { annotations: { name: 'app_db', labels: {} } }, updateStatus: update === undefined ? undefined : { state: update } });
  const m: ServiceSpec['mode'] = mode === 'replicated'
    ? { $case: 'replicated', replicated: { replicas: n } }
    : { $case: 'replicatedJob', replicatedJob: { maxConcurrent: 1, totalCompletions: n } };
  s.spec!.mode = m;
  return s;
};
const task = (desired: TaskState, state: TaskState, health = HealthState.HEALTH_NONE): Task =>
  Task.fromPartial({ id: `t${Math.random()}`, serviceId: 's1', desiredState: desired, status: { state, health } });

test('service_started: every desired replica RUNNING and no update in progress', (t) => {
  const R = TaskState.RUNNING;
  t.false(dependencyMet(svc('replicated', 2), [task(R, R), task(R, TaskState.STARTING)], 'service_started').met);
  t.deepEqual(dependencyMet(svc('replicated', 2), [task(R, R), task(R, R)], 'service_started'), { met: true, word: 'converged' });
  t.false(dependencyMet(svc('replicated', 2, UpdateState.UPDATING), [task(R, R), task(R, R)], 'service_started').met);
  // an old, shut down task does not count against it
  t.true(dependencyMet(svc('replicated', 1), [task(TaskState.SHUTDOWN, TaskState.FAILED), task(R, R)], 'service_started').met);
});

test('service_healthy: running and every health check passing', (t) => {
  const R = TaskState.RUNNING;
  t.false(dependencyMet(svc('replicated', 1), [task(R, R, HealthState.HEALTH_STARTING)], 'service_healthy').met);
  t.deepEqual(dependencyMet(svc('replicated', 1), [task(R, R, HealthState.HEALTHY)], 'service_healthy'), { met: true, word: 'healthy' });
});

test('service_completed_successfully: a job whose completions are all COMPLETE', (t) => {
  const C = TaskState.COMPLETE;
  t.false(dependencyMet(svc('job', 2), [task(C, C), task(C, TaskState.RUNNING)], 'service_completed_successfully').met);
  t.false(dependencyMet(svc('job', 2), [], 'service_completed_successfully').met);
  t.deepEqual(dependencyMet(svc('job', 2), [task(C, C), task(C, C)], 'service_completed_successfully'), { met: true, word: 'completed' });
});

test('the converted stack carries depends_on with full names and conditions', (t) => {
  const s = stack([valid('webstack', 'docker-compose.yml')]);
  const deps = Object.values(s.dependsOn).flat();
  t.true(deps.length > 0);
  for (const d of deps) {
    t.regex(d.service, /^app_/);
    t.true(['service_started', 'service_healthy', 'service_completed_successfully'].includes(d.condition));
  }
  for (const [name, ds] of Object.entries(s.dependsOn)) for (const d of ds) t.true(s.order.indexOf(d.service) < s.order.indexOf(name), `${d.service} before ${name}`);
});
