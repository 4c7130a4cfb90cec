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

interface Sink {
  min: number;
  write: (line: string) => void;
  now: () => number;
}

/**
 * One logger per set of fields. A class, not closures: an agent makes two children per task (a
 * hollow farm, a hundred thousand), and per-instance closures cost an allocation each (and, under
 * tsx/esbuild's keepNames, a defineProperty each) on that hot path. A child below the sink's level
 * is never asked to format anything, so it only keeps a reference to its parent's fields.
 */
class JsonLogger implements Logger {
  constructor(
    private readonly sink: Sink,
    private readonly fields: LogFields,
  ) {}

  debug(msg: string, extra?: LogFields): void {
    if (ORDER.debug >= this.sink.min) this.emit('debug', msg, extra);
  }

  info(msg: string, extra?: LogFields): void {
    if (ORDER.info >= this.sink.min) this.emit('info', msg, extra);
  }

  warn(msg: string, extra?: LogFields): void {
    if (ORDER.warn >= this.sink.min) this.emit('warn', msg, extra);
  }

  error(msg: string, extra?: LogFields): void {
    if (ORDER.error >= this.sink.min) this.emit('error', msg, extra);
  }

  child(fields: LogFields): Logger {
    return new JsonLogger(this.sink, { ...this.fields, ...fields });
  }

  private emit(level: LogLevel, msg: string, extra?: LogFields): void {
    const rec: LogFields = { time: new Date(this.sink.now()).toISOString(), level, ...this.fields, msg, ...extra };
    for (const [k, v] of Object.entries(rec)) if (v instanceof Error) rec[k] = v.message;
    this.sink.write(JSON.stringify(rec));
  }
}

/** A JSON-lines logger writing to `write` (stderr by default). */
export function jsonLogger(
  base: LogFields = {},
  opts: { level?: LogLevel; write?: (line: string) => void; now?: () => number } = {},
): Logger {
  const sink: Sink = {
    min: ORDER[opts.level ?? levelFromEnv()],
    write: opts.write ?? ((line: string) => process.stderr.write(line + '\n')),
    now: opts.now ?? Date.now,
  };
  return new JsonLogger(sink, { ...base });
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
