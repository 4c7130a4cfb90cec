import test from 'ava';
import { Service, Task, TaskState, UpdateState, type ServiceSpec } from '@shoal/api';
import type { Control } from '../src/client.js';
import { updateProgress, waitForServices } from '../src/commands/progress.js';

function service(state?: UpdateState, updated: string[] = [], message = ''): Service {
  const s = Service.fromPartial({ id: 'svc1', spec: { annotations: { name: 'app_web', labels: {} } } });
  const mode: ServiceSpec['mode'] = { $case: 'replicated', replicated: { replicas: 2 } };
  s.spec!.mode = mode;
  if (state !== undefined) s.updateStatus = { state, updated, message, failures: 0, failedTasks: [] };
  return s;
}
const running = (n: number): Task[] =>
  Array.from({ length: n }, (_, i) => Task.fromPartial({ id: `t${i}`, serviceId: 'svc1', slot: i + 1, desiredState: TaskState.RUNNING, status: { state: TaskState.RUNNING } }));

/** A Control that answers listServices/listTasks from a script of states, one per poll. */
function fake(steps: Array<{ service: Service; tasks: Task[] }>): Control {
  let i = 0;
  let step = steps[0]!;
  return {
    call: async (method: string) => {
      if (method === 'listServices') {
        step = steps[Math.min(i++, steps.length - 1)]!;
        return { services: [step.service] };
      }
      return { tasks: step.tasks };
    },
  } as unknown as Control;
}

function sink(): { out: { write(s: string): boolean; isTTY: boolean }; text: () => string } {
  let text = '';
  return { out: { write: (s: string) => ((text += s), true), isTTY: false }, text: () => text };
}

test('update progress words', (t) => {
  t.is(updateProgress(service(UpdateState.UPDATING, ['1']), 2), ' (updating: 1/2 updated)');
  t.is(updateProgress(service(UpdateState.PAUSED, [], 'task failed'), 2), ' (update paused: task failed)');
  t.is(updateProgress(service(UpdateState.ROLLBACK_COMPLETED, [], 'update failed'), 2), ' (rolled back: update failed)');
  t.is(updateProgress(service(UpdateState.COMPLETED), 2), '');
  t.is(updateProgress(service(), 2), '');
});

test('plain lines on change while a rolling update runs, then converged', async (t) => {
  const s = sink();
  await waitForServices(fake([
    { service: service(UpdateState.UPDATING, []), tasks: running(2) },
    { service: service(UpdateState.UPDATING, ['1']), tasks: running(2) },
    { service: service(UpdateState.UPDATING, ['1']), tasks: running(2) },
    { service: service(UpdateState.COMPLETED, ['1', '2']), tasks: running(2) },
  ]), ['svc1'], { out: s.out, pollMs: 1 });
  t.is(s.text(), ['app_web: 2/2 running (updating: 0/2 updated)', 'app_web: 2/2 running (updating: 1/2 updated)', 'app_web: 2/2 converged', ''].join('\n'));
});

test('a paused update is an error naming the service; a rolled-back one too when asked', async (t) => {
  const paused = sink();
  await t.throwsAsync(waitForServices(fake([{ service: service(UpdateState.PAUSED, ['1'], 'task abc failed'), tasks: running(2) }]), ['svc1'], { out: paused.out, pollMs: 1 }), {
    message: /did not converge: app_web: 2\/2 failed \(update paused: task abc failed\)/,
  });
  const rolled = fake([{ service: service(UpdateState.ROLLBACK_COMPLETED, [], 'update failed'), tasks: running(2) }]);
  await t.throwsAsync(waitForServices(rolled, ['svc1'], { out: sink().out, pollMs: 1, failOnRollback: true }), { message: /rolled back: update failed/ });
  // `service rollback` waits for the same state and is content with it
  await t.notThrowsAsync(waitForServices(fake([{ service: service(UpdateState.ROLLBACK_COMPLETED), tasks: running(2) }]), ['svc1'], { out: sink().out, pollMs: 1 }));
});
