import type { Duration } from './gen/google/protobuf/duration.js';

/** Milliseconds in a protobuf Duration (undefined -> fallback). */
export function durationMs(d: Duration | undefined, fallbackMs = 0): number {
  if (!d) return fallbackMs;
  return d.seconds * 1000 + Math.floor(d.nanos / 1e6);
}

export function msDuration(ms: number): Duration {
  const seconds = Math.trunc(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parse a Go-style duration as Docker and Compose write them: "10s", "1m30s", "500ms", "1h".
 * A bare number is taken as seconds. Returns milliseconds, or throws with the offending text.
 */
export function parseDurationMs(text: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
    matched = re.lastIndex;
  }
  if (matched !== s.length || s.length === 0) throw new Error(`not a duration: "${text}" (expected e.g. 10s, 1m30s, 500ms)`);
  return total;
}

let lastMs = NaN;
let lastIso = '';

/**
 * RFC 3339 timestamp string (what the generated code uses for google.protobuf.Timestamp). The
 * last one is remembered: a task's transitions on an agent (and a batch of writes on a manager)
 * often ask for the same millisecond several times in a row.
 */
export function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}
