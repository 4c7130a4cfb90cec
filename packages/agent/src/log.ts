// Structured JSON logs with a component name and ids, one object per line.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` (e.g. {component:"session"} or {taskId}) to every line. */
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function levelFromEnv(): LogLevel {
  const v = (process.env['SHOAL_LOG_LEVEL'] ?? '').toLowerCase();
  return v in ORDER ? (v as LogLevel) : 'info';
}

/** A JSON-lines logger writing to `write` (stderr by default). */
export function jsonLogger(
  base: LogFields = {},
  opts: { level?: LogLevel; write?: (line: string) => void; now?: () => number } = {},
): Logger {
  const min = ORDER[opts.level ?? levelFromEnv()];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? Date.now;
  const make = (fields: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, extra?: LogFields): void => {
      if (ORDER[level] < min) return;
      const rec: LogFields = { time: new Date(now()).toISOString(), level, ...fields, msg, ...extra };
      for (const [k, v] of Object.entries(rec)) if (v instanceof Error) rec[k] = v.message;
      write(JSON.stringify(rec));
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

export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
