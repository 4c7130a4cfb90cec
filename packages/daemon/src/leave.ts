// `shoald leave --data-dir DIR [--force]`: the running daemon of DIR (found by its pid file)
// leaves the swarm. The request travels as a file plus a signal, so that only someone who can
// write the node's data dir and signal its process (the node's owner) can ask:
//   1. write <data-dir>/leave-request.json {force} and send SIGUSR2 to the pid in shoald.pid;
//   2. the daemon (Daemon.leave) refuses a manager without --force (saying whether quorum would
//      be lost too) by writing leave-result.json and carrying on; otherwise it leaves raft if it
//      is a manager, stops, removes its task containers, drops its node state and exits 0;
//   3. this command waits for the process to go and reports the outcome.
// With no daemon running, the node state is dropped here (a manager also leaves raft first).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './config.js';
import { readIdentity, writeFileAtomic, type NodeIdentityFile } from './identity.js';
import { raftLeave } from './join.js';
import type { Logger } from './log.js';
import { PEERS_FILE, TOKEN_FILE } from './files.js';

export const PID_FILE = 'shoald.pid';
export const LEAVE_REQUEST_FILE = 'leave-request.json';
export const LEAVE_RESULT_FILE = 'leave-result.json';
export const LEAVE_SIGNAL = 'SIGUSR2';

export const MANAGER_REFUSAL = 'leaving would remove a manager; demote it first (shoal node demote) or use --force';

/** A leave that must not happen (a manager without --force, or raft refused the removal). */
export class LeaveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaveError';
  }
}

/** What makes up a node's membership: after this the data dir can init or join again. */
export function dropNodeState(dataDir: string): void {
  for (const f of ['node.json', 'config.json', TOKEN_FILE, PEERS_FILE, LEAVE_REQUEST_FILE, PID_FILE]) rmSync(join(dataDir, f), { force: true });
  for (const d of ['manager', 'agent', 'runtime']) rmSync(join(dataDir, d), { recursive: true, force: true });
}

export function writePidFile(dataDir: string): void {
  writeFileAtomic(join(dataDir, PID_FILE), `${process.pid}\n`);
}

export function removePidFile(dataDir: string): void {
  try {
    if (readFileSync(join(dataDir, PID_FILE), 'utf8').trim() === String(process.pid)) rmSync(join(dataDir, PID_FILE), { force: true });
  } catch {
    // absent
  }
}

/** The pid of the daemon running on dataDir, if one is. */
export function runningPid(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, PID_FILE), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  return alive(pid) && isShoald(pid) ? pid : undefined;
}

/** A pid file left by a killed daemon may name a reused pid: signal only a shoald (where /proc tells). */
function isShoald(pid: number): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return !existsSync('/proc/self/cmdline');
  }
  return /shoald|daemon/.test(cmdline);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The request the daemon reads on SIGUSR2 (removed once read). */
export function takeLeaveRequest(dataDir: string): { force: boolean } | undefined {
  const p = join(dataDir, LEAVE_REQUEST_FILE);
  try {
    const r = JSON.parse(readFileSync(p, 'utf8')) as { force?: unknown };
    rmSync(p, { force: true });
    return { force: r.force === true };
  } catch {
    return undefined;
  }
}

export function writeLeaveResult(dataDir: string, error: string): void {
  writeFileAtomic(join(dataDir, LEAVE_RESULT_FILE), JSON.stringify({ error }) + '\n');
}

function refuse(id: NodeIdentityFile, force: boolean): void {
  if (id.role === 'manager' && !force) throw new LeaveError(MANAGER_REFUSAL);
}

/** `shoald leave`: resolves when the node has left; rejects with a one-line reason otherwise. */
export async function leaveCommand(dataDir: string, force: boolean, log: Logger, timeoutMs = 60_000): Promise<string> {
  const id = readIdentity(dataDir);
  if (!id) throw new ConfigError(`${dataDir} holds no node identity (node.json): this node is not part of a swarm`);
  const pid = runningPid(dataDir);
  if (pid === undefined) {
    refuse(id, force);
    if (id.role === 'manager' && id.raftId) {
      const others = id.addrs.managers.filter((a) => a !== id.addrs.advertise);
      if (others.length) await raftLeave(others, id.raftId, log);
    }
    dropNodeState(dataDir);
    return id.nodeId;
  }
  rmSync(join(dataDir, LEAVE_RESULT_FILE), { force: true });
  writeFileAtomic(join(dataDir, LEAVE_REQUEST_FILE), JSON.stringify({ force }) + '\n');
  process.kill(pid, LEAVE_SIGNAL);
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const res = join(dataDir, LEAVE_RESULT_FILE);
    if (existsSync(res)) {
      const r = JSON.parse(readFileSync(res, 'utf8')) as { error?: string };
      rmSync(res, { force: true });
      throw new LeaveError(r.error ?? 'the daemon refused to leave');
    }
    if (!alive(pid)) {
      if (readIdentity(dataDir)) throw new LeaveError(`shoald (pid ${pid}) exited without leaving; see its log`);
      return id.nodeId;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new LeaveError(`shoald (pid ${pid}) did not leave within ${Math.round(timeoutMs / 1000)} s`);
}
