// Per-write latency tracing (bench/raft/trace.ts): off unless the environment variable RAFT_TRACE
// names a file prefix. When off, `trace` is undefined and a call site costs one check
// (`trace?.(…)`). When on, every event is kept in memory with its time on a clock shared by
// processes on one machine (performance.timeOrigin + performance.now(), in ms) and written to
// <prefix>.<pid>.tsv when the process exits: "<ms>\t<event>\t<raft index>" per line.
import { writeFileSync } from 'node:fs';

export type TraceFn = (event: string, index: number, atMs?: number) => void;

/** the shared clock the trace uses, in ms */
export const traceNow = (): number => performance.timeOrigin + performance.now();

function make(): TraceFn | undefined {
  const prefix = process.env.RAFT_TRACE;
  if (!prefix) return undefined;
  const events: string[] = [];
  process.on('exit', () => writeFileSync(`${prefix}.${process.pid}.tsv`, events.join('\n')));
  return (event, index, atMs) => void events.push(`${(atMs ?? traceNow()).toFixed(3)}\t${event}\t${index}`);
}

export const trace: TraceFn | undefined = make();
