import test from 'ava';
import { ShoalError, invalidArgument, durationMs, msDuration, parseDurationMs, grpc } from '@shoal/api';

test('ShoalError survives the trip through gRPC status and metadata', (t) => {
  const e = invalidArgument('spec.task.container.image', 'must not be empty');
  const wire = e.toGrpc();
  t.is(wire.code, grpc.status.INVALID_ARGUMENT);
  const back = ShoalError.fromGrpc(wire);
  t.is(back.code, 'InvalidArgument');
  t.is(back.field, 'spec.task.container.image');
  t.is(back.message, 'invalid spec.task.container.image: must not be empty');
  t.false(back.retryable);
});

test('Unavailable carries the leader and is retryable; unknown gRPC codes map to Internal', (t) => {
  const e = ShoalError.fromGrpc(new ShoalError('Unavailable', 'not the leader', { leader: '127.0.0.1:4242' }).toGrpc());
  t.is(e.code, 'Unavailable');
  t.is(e.leader, '127.0.0.1:4242');
  t.true(e.retryable);
  t.is(ShoalError.fromGrpc({ code: 999, details: 'odd' }).code, 'Internal');
  t.is(ShoalError.fromGrpc({ code: grpc.status.NOT_FOUND, details: 'gone' }).code, 'NotFound');
});

test('durations parse like Docker and Compose write them', (t) => {
  t.is(parseDurationMs('10s'), 10_000);
  t.is(parseDurationMs('1m30s'), 90_000);
  t.is(parseDurationMs('500ms'), 500);
  t.is(parseDurationMs('1h'), 3_600_000);
  t.is(parseDurationMs('1.5s'), 1500);
  t.is(parseDurationMs('5'), 5000);
  t.throws(() => parseDurationMs('10 parsecs'), { message: /not a duration: "10 parsecs"/ });
  t.throws(() => parseDurationMs(''), { message: /not a duration/ });
  t.deepEqual(msDuration(1500), { seconds: 1, nanos: 500_000_000 });
  t.is(durationMs(msDuration(2750)), 2750);
  t.is(durationMs(undefined, 42), 42);
});
