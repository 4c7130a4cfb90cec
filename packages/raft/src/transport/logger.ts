// A small structured logger (JSON lines on stderr) for the raft runtime: a component name and ids
// on every line. Level from SHOAL_LOG_LEVEL (debug|info|warn|error|silent, default warn).
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(component: string, base: Record<string, unknown> = {}, level?: LogLevel): Logger {
  const min = RANK[level ?? ((process.env.SHOAL_LOG_LEVEL as LogLevel | undefined) ?? 'warn')] ?? RANK.warn;
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[lvl] < min) return;
    const line = { ts: new Date().toISOString(), level: lvl, component, msg, ...base, ...fields };
    process.stderr.write(`${JSON.stringify(line, (_k, v: unknown) => (v instanceof Error ? v.message : v))}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (f) => createLogger(component, { ...base, ...f }, level),
  };
}
