// `shoal service logs`: the request it sends and the lines it prints (the streaming itself is
// covered end to end in test/integration/logs.test.ts).
import test from 'ava';
import { LogStream, type LogMessage } from '@shoal/api';
import { formatLine, logsRequest, sinceOf } from '../src/commands/service-logs.js';

test('request: tail, follow, streams and since', (t) => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  const r = logsRequest({ serviceIds: ['s1'] }, { tail: '5', follow: true, since: '10m' }, now);
  t.deepEqual(r.selector, { serviceIds: ['s1'], nodeIds: [], taskIds: [] });
  t.deepEqual(r.options, { streams: [LogStream.STDOUT, LogStream.STDERR], follow: true, tail: 5, since: '2026-01-01T11:50:00.000Z' });
  const all = logsRequest({ taskIds: ['t1'] }, { tail: 'all', stderr: true }, now);
  t.deepEqual(all.selector, { serviceIds: [], nodeIds: [], taskIds: ['t1'] });
  t.deepEqual(all.options, { streams: [LogStream.STDERR], follow: false, tail: -1, since: undefined });
  t.is(sinceOf('2026-01-01T10:00:00+01:00'), '2026-01-01T09:00:00.000Z');
  t.throws(() => logsRequest({ serviceIds: ['s1'] }, { tail: 'ten' }), { message: /--tail/ });
  t.throws(() => sinceOf('yesterday'), { message: /--since/ });
});

test('lines: service.slot.task@node prefix, timestamps, raw', (t) => {
  const l: LogMessage = {
    context: { serviceId: 's1', nodeId: 'n1', taskId: 'abcdefghijklmnopqrstuvwxy' },
    timestamp: '2026-01-01T12:00:00.123456789Z',
    stream: LogStream.STDOUT,
    data: Buffer.from('hello\n'),
  };
  const names = { service: () => 'web', slot: () => '3', node: () => 'worker-1' };
  t.regex(formatLine(l, {}, names), /^web\.3\.abcdefghij\w*@worker-1 {4}\| hello\n$/);
  t.regex(formatLine(l, { timestamps: true }, names), /^2026-01-01T12:00:00\.123456789Z web\.3\./);
  t.is(formatLine(l, { raw: true }, names), 'hello\n');
  t.regex(formatLine(l, {}, { ...names, slot: () => '' }), /^web\.abcdefghij\w*@worker-1/);
});
