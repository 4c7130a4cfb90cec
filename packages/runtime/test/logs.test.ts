import test from 'ava';
import { mkdtemp, writeFile, appendFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCriLogLine, parseCriLog, parseRfc3339NanoMs, readCriLogFile, type LogEntry } from '@shoal/runtime';

test('parses a full CRI log line', (t) => {
  const r = parseCriLogLine('2024-05-01T10:00:00.123456789Z stdout F hello world');
  t.deepEqual(r, { timestamp: '2024-05-01T10:00:00.123456789Z', time: Date.parse('2024-05-01T10:00:00.123Z'), stream: 'stdout', partial: false, text: 'hello world' });
});

test('keeps spaces in the text and accepts an empty text and tag lists', (t) => {
  t.is(parseCriLogLine('2024-05-01T10:00:00Z stderr F   a  b ')?.text, '  a  b ');
  t.is(parseCriLogLine('2024-05-01T10:00:00Z stdout F')?.text, '');
  t.is(parseCriLogLine('2024-05-01T10:00:00Z stdout P:x part')?.partial, true);
});

test('rejects malformed lines', (t) => {
  t.is(parseCriLogLine(''), undefined);
  t.is(parseCriLogLine('garbage'), undefined);
  t.is(parseCriLogLine('2024-05-01T10:00:00Z stdin F x'), undefined);
  t.is(parseCriLogLine('2024-05-01T10:00:00Z stdout X x'), undefined);
  t.is(parseCriLogLine('notatime stdout F x'), undefined);
});

test('RFC3339Nano with offsets', (t) => {
  t.is(parseRfc3339NanoMs('2024-05-01T12:00:00.5+02:00'), Date.parse('2024-05-01T10:00:00.500Z'));
  t.true(Number.isNaN(parseRfc3339NanoMs('2024-05-01')));
});

test('joins partial lines per stream, even when streams interleave', (t) => {
  const text = [
    '2024-05-01T10:00:00.000000001Z stdout P hel',
    '2024-05-01T10:00:00.000000002Z stderr F err line',
    '2024-05-01T10:00:00.000000003Z stdout P lo ',
    '2024-05-01T10:00:00.000000004Z stdout F world',
    'broken',
    '2024-05-01T10:00:01Z stdout P dangling',
  ].join('\n');
  const out = parseCriLog(text);
  t.deepEqual(out.map((e) => [e.stream, e.text]), [['stderr', 'err line'], ['stdout', 'hello world'], ['stdout', 'dangling']]);
  t.is(out[1]!.timestamp, '2024-05-01T10:00:00.000000001Z');
});

async function collect(it: AsyncIterable<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(e.text);
  return out;
}

test('reads a file with tail and since', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-logs-'));
  const f = join(dir, 'c.log');
  await writeFile(f, ['2024-05-01T10:00:00Z stdout F a', '2024-05-01T10:00:01Z stdout F b', '2024-05-01T10:00:02Z stdout F c', ''].join('\n'));
  t.deepEqual(await collect(readCriLogFile(f)), ['a', 'b', 'c']);
  t.deepEqual(await collect(readCriLogFile(f, { tail: 2 })), ['b', 'c']);
  t.deepEqual(await collect(readCriLogFile(f, { tail: 0 })), []);
  t.deepEqual(await collect(readCriLogFile(f, { since: Date.parse('2024-05-01T10:00:01Z') })), ['b', 'c']);
  t.deepEqual(await collect(readCriLogFile(join(dir, 'missing.log'))), []);
  await rm(dir, { recursive: true });
});

test('follow yields appended lines, completes a line split across writes, ends when not alive', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-logs-'));
  const f = join(dir, 'c.log');
  await writeFile(f, '2024-05-01T10:00:00Z stdout F first\n');
  let alive = true;
  const steps: (() => Promise<void>)[] = [
    () => appendFile(f, '2024-05-01T10:00:01Z stdout P sec'),
    () => appendFile(f, 'ond-part \n2024-05-01T10:00:01Z stdout F end\n'),
    async () => { alive = false; },
  ];
  // The injected wait performs the next scripted step instead of sleeping.
  const wait = async (): Promise<void> => { await steps.shift()?.(); };
  const out = await collect(readCriLogFile(f, { follow: true }, { wait, alive: async () => alive }));
  t.deepEqual(out, ['first', 'second-part end']);
  await rm(dir, { recursive: true });
});

test('follow stops when aborted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-logs-'));
  const f = join(dir, 'c.log');
  await writeFile(f, '2024-05-01T10:00:00Z stdout F x\n');
  const ac = new AbortController();
  const wait = async (): Promise<void> => { ac.abort(); };
  t.deepEqual(await collect(readCriLogFile(f, { follow: true, signal: ac.signal }, { wait, alive: async () => true })), ['x']);
  await rm(dir, { recursive: true });
});

test('streams are selected before the tail: the last N lines of the chosen stream', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-logs-'));
  const f = join(dir, 'c.log');
  await writeFile(f, ['2024-05-01T10:00:00Z stdout F a', '2024-05-01T10:00:01Z stderr F oops', '2024-05-01T10:00:02Z stdout F b', '2024-05-01T10:00:03Z stdout F c', ''].join('\n'));
  t.deepEqual(await collect(readCriLogFile(f, { tail: 1, streams: ['stderr'] })), ['oops']);
  t.deepEqual(await collect(readCriLogFile(f, { tail: 2, streams: ['stdout'] })), ['b', 'c']);
  t.deepEqual(await collect(readCriLogFile(f, { streams: ['stdout', 'stderr'] })), ['a', 'oops', 'b', 'c']);
  await rm(dir, { recursive: true });
});
