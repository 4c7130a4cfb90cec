import test from 'ava';
import { isoTime } from '../src/time.js';

test('isoTime: RFC 3339 in UTC with milliseconds; the remembered last value never leaks into another millisecond', (t) => {
  t.is(isoTime(0), '1970-01-01T00:00:00.000Z');
  t.is(isoTime(0), '1970-01-01T00:00:00.000Z');
  t.is(isoTime(1_700_000_000_123), '2023-11-14T22:13:20.123Z');
  t.is(isoTime(1_700_000_000_124), '2023-11-14T22:13:20.124Z');
  t.is(isoTime(1_700_000_000_123), '2023-11-14T22:13:20.123Z');
  t.throws(() => isoTime(NaN), { instanceOf: RangeError });
  t.is(isoTime(0), '1970-01-01T00:00:00.000Z');
});
