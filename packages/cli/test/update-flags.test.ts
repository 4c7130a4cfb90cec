// The update-config flags of `shoal service create|update`, canary included (the command itself is
// driven against a cluster in test/integration/update-failover.test.ts).
import test from 'ava';
import { UpdateFailureAction, UpdateOrder } from '@shoal/api';
import { specFromFlags } from '../src/commands/service-flags.js';

test('canary flags: --update-canary, and --update-canary-auto-promote which implies it', (t) => {
  const manual = specFromFlags('nginx', [], { updateParallelism: '2', updateCanary: true });
  t.deepEqual(manual.update?.canary, { enabled: true, autoPromoteAfter: undefined });
  t.is(manual.update?.parallelism, 2);
  const auto = specFromFlags('nginx', [], { updateCanaryAutoPromote: '30s' });
  t.deepEqual(auto.update?.canary, { enabled: true, autoPromoteAfter: { seconds: 30, nanos: 0 } });
  t.throws(() => specFromFlags('nginx', [], { updateCanaryAutoPromote: 'soon' }), { message: /--update-canary-auto-promote/ });
});

test('update flags: order, failure action, monitor, max failure ratio', (t) => {
  const s = specFromFlags('nginx', [], {
    updateOrder: 'start-first',
    updateFailureAction: 'rollback',
    updateMonitor: '2s',
    updateMaxFailureRatio: '0.25',
  });
  t.is(s.update?.order, UpdateOrder.START_FIRST);
  t.is(s.update?.failureAction, UpdateFailureAction.ROLLBACK_ON_FAILURE);
  t.deepEqual(s.update?.monitor, { seconds: 2, nanos: 0 });
  t.is(s.update?.maxFailureRatio, 0.25);
  t.throws(() => specFromFlags('nginx', [], { updateMaxFailureRatio: '2' }), { message: /--update-max-failure-ratio: expected a number between 0 and 1/ });
});
