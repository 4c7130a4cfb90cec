// The daemon's logger: structured JSON lines ({time, level, component, nodeId, msg, …}) on
// stdout, or a compact human-readable line when stdout is a terminal. It has the same shape as
// the Logger of @shoal/agent and @shoal/manager, so one instance is handed to both.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
export type LogFormat = 'json' | 'human';

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function isLogLevel(v: string): v is LogLevel {
  return v in ORDER;
}

export interface DaemonLoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  write?: (line: string) => void;
  now?: () => number;
}

/** Default format: human on a terminal, JSON otherwise (files, pipes, test harness). */
export function defaultLogFormat(): LogFormat {
  const env = (process.env['SHOAL_LOG_FORMAT'] ?? '').toLowerCase();
  if (env === 'json' || env === 'human') return env;
  return process.stdout.isTTY ? 'human' : 'json';
}

export function defaultLogLevel(): LogLevel {
  const v = (process.env['SHOAL_LOG_LEVEL'] ?? '').toLowerCase();
  return isLogLevel(v) ? v : 'info';
}

function plain(v: unknown): unknown {
  if (v instanceof Error) return v.message;
  if (typeof v === 'bigint') return v.toString();
  return v;
}

function humanLine(rec: LogFields): string {
  const { time, level, component, msg, ...rest } = rec;
  const t = typeof time === 'string' ? time.slice(11, 23) : '';
  const extra = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const lvl = String(level).toUpperCase().padEnd(5);
  return `${t} ${lvl} [${String(component ?? '-')}] ${String(msg)}${extra ? '  ' + extra : ''}`;
}

export function daemonLogger(base: LogFields = {}, opts: DaemonLoggerOptions = {}): Logger {
  const min = ORDER[opts.level ?? defaultLogLevel()];
  const format = opts.format ?? defaultLogFormat();
  const write = opts.write ?? ((line: string) => void process.stdout.write(line + '\n'));
  const now = opts.now ?? Date.now;
  const make = (fields: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, extra?: LogFields): void => {
      if (ORDER[level] < min) return;
      const rec: LogFields = { time: new Date(now()).toISOString(), level, ...fields, msg, ...extra };
      for (const [k, v] of Object.entries(rec)) rec[k] = plain(v);
      let line: string;
      try {
        line = format === 'human' ? humanLine(rec) : JSON.stringify(rec);
      } catch {
        line = JSON.stringify({ time: rec['time'], level, msg, note: 'unserialisable log fields' });
      }
      write(line);
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (f) => make({ ...fields, ...f }),
    };
  };
  return make(base);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
