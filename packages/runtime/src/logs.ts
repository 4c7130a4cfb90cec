// CRI container log files: one line per record, "<RFC3339Nano> <stdout|stderr> <F|P> <text>".
// A "P" (partial) record continues in the next record of the same stream; "F" ends the line.
import { open, stat } from 'node:fs/promises';
import type { LogEntry, LogReadOptions, LogStream } from './runtime.js';

export interface CriLogRecord {
  timestamp: string;
  time: number;
  stream: LogStream;
  partial: boolean;
  text: string;
}

/** Parses one CRI log line (without its trailing newline); undefined if malformed. */
export function parseCriLogLine(line: string): CriLogRecord | undefined {
  const s1 = line.indexOf(' ');
  if (s1 <= 0) return undefined;
  const s2 = line.indexOf(' ', s1 + 1);
  if (s2 < 0) return undefined;
  const timestamp = line.slice(0, s1);
  const stream = line.slice(s1 + 1, s2);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  // The tag may be "F"/"P" or, in newer runtimes, a ":"-separated list whose first item is F/P.
  const s3 = line.indexOf(' ', s2 + 1);
  const tag = s3 < 0 ? line.slice(s2 + 1) : line.slice(s2 + 1, s3);
  const flag = tag.split(':')[0];
  if (flag !== 'F' && flag !== 'P') return undefined;
  const time = parseRfc3339NanoMs(timestamp);
  if (Number.isNaN(time)) return undefined;
  return { timestamp, time, stream, partial: flag === 'P', text: s3 < 0 ? '' : line.slice(s3 + 1) };
}

/** RFC3339 with up to 9 fractional digits -> ms since the epoch (Date.parse takes only 3). */
export function parseRfc3339NanoMs(ts: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) return NaN;
  const frac = (m[2] ?? '').padEnd(3, '0').slice(0, 3);
  return Date.parse(`${m[1]}.${frac}${m[3]}`);
}

/**
 * Joins partial records into entries, per stream (P fragments of stdout and stderr may
 * interleave). Stateful: feed records in file order; pending partials stay until an F arrives.
 */
export class CriLogAssembler {
  private readonly pending = new Map<LogStream, { first: CriLogRecord; parts: string[] }>();

  push(rec: CriLogRecord): LogEntry | undefined {
    const p = this.pending.get(rec.stream);
    if (rec.partial) {
      if (p) p.parts.push(rec.text);
      else this.pending.set(rec.stream, { first: rec, parts: [rec.text] });
      return undefined;
    }
    if (!p) return { time: rec.time, timestamp: rec.timestamp, stream: rec.stream, text: rec.text };
    this.pending.delete(rec.stream);
    p.parts.push(rec.text);
    return { time: p.first.time, timestamp: p.first.timestamp, stream: rec.stream, text: p.parts.join('') };
  }

  /** Pending partial lines as entries (at end of a finished log). */
  flush(): LogEntry[] {
    const out = [...this.pending.values()].map(({ first, parts }) => ({
      time: first.time, timestamp: first.timestamp, stream: first.stream, text: parts.join(''),
    }));
    this.pending.clear();
    return out.sort((a, b) => a.time - b.time);
  }
}

/** Parses a whole CRI log text into entries (malformed lines are skipped). */
export function parseCriLog(text: string): LogEntry[] {
  const asm = new CriLogAssembler();
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const rec = parseCriLogLine(line);
    if (!rec) continue;
    const e = asm.push(rec);
    if (e) out.push(e);
  }
  return out.concat(asm.flush());
}

export interface FollowHooks {
  /** Resolves after a short wait (injectable for tests); default 100 ms timer. */
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Whether more output can still arrive (container running); follow ends when false at EOF. */
  alive?: () => Promise<boolean>;
}

function defaultWait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Reads a CRI log file with tail/since/follow. Follow polls the file (100 ms) and handles
 * truncation/rotation by starting again at offset 0 when the file shrinks.
 */
export async function* readCriLogFile(path: string, opts: LogReadOptions = {}, hooks: FollowHooks = {}): AsyncGenerator<LogEntry> {
  const wait = hooks.wait ?? defaultWait;
  const asm = new CriLogAssembler();
  let offset = 0;
  let rest = '';
  const streams = opts.streams?.length ? new Set(opts.streams) : undefined;
  const accept = (e: LogEntry): boolean => (opts.since === undefined || e.time >= opts.since) && (!streams || streams.has(e.stream));

  const readMore = async (): Promise<LogEntry[]> => {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    if (size < offset) { offset = 0; rest = ''; }
    if (size === offset) return [];
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(size - offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      offset += bytesRead;
      const chunk = rest + buf.subarray(0, bytesRead).toString('utf8');
      const lines = chunk.split('\n');
      rest = lines.pop() ?? '';
      const out: LogEntry[] = [];
      for (const line of lines) {
        const rec = line ? parseCriLogLine(line) : undefined;
        const e = rec ? asm.push(rec) : undefined;
        if (e && accept(e)) out.push(e);
      }
      return out;
    } finally {
      await fh.close();
    }
  };

  let first = await readMore();
  if (!opts.follow) first = first.concat(asm.flush().filter(accept));
  if (opts.tail !== undefined) first = opts.tail <= 0 ? [] : first.slice(-opts.tail);
  yield* first;
  if (!opts.follow) return;
  for (;;) {
    if (opts.signal?.aborted) return;
    const more = await readMore();
    yield* more;
    if (more.length === 0) {
      if (hooks.alive && !(await hooks.alive())) {
        yield* await readMore();
        yield* asm.flush().filter(accept);
        return;
      }
      await wait(100, opts.signal);
    }
  }
}
